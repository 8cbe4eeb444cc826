"""The rating database: import, per-rater order, forged submissions, resume, agreement."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from herdsman.errors import HerdsmanError, SubmissionError
from herdsman.evaluate.answer_sheets import AnswerSheet, Item, read_answer_sheet
from herdsman.rating.db import NameTaken, RatingDB, agreement
from tests.conftest import require_data


def _predictions_db(tmp_path: Path) -> RatingDB:
    files = sorted(require_data("self_instruct", "predictions").glob("*_predictions.jsonl"))
    db = RatingDB(tmp_path / "ratings.sqlite")
    assert db.import_sheet(read_answer_sheet(files)) == 252
    assert db.import_sheet(read_answer_sheet(files)) == 0  # idempotent
    return db


def test_order_is_stable_per_rater_and_varies_between_raters(tmp_path: Path) -> None:
    db = _predictions_db(tmp_path)
    ann = db.rater_for(db.login(name="ann"))
    bob = db.rater_for(db.login(name="bob"))
    assert ann and bob
    first = db.next_item(ann)
    assert first is not None and len(first.answers) == 3
    assert db.next_item(ann) == first  # reload: same item, same order
    orders = {
        tuple(RatingDB.order(r, f"item{n}", ["x", "y", "z"])) for r in (1, 2) for n in range(20)
    }
    assert len(orders) > 1


def test_submit_resume_and_progress(tmp_path: Path) -> None:
    db = _predictions_db(tmp_path)
    session = db.login(name="ann")
    ann = db.rater_for(session)
    assert ann
    item = db.next_item(ann)
    assert item
    db.submit(ann, item.id, {0: "A", 1: "C", 2: "D"})
    assert db.progress(ann) == (1, 252)
    # Coming back with the session resumes at the next item; the name alone is no way back.
    with pytest.raises(NameTaken, match="'ann' is taken"):
        db.login(name="ann")
    again = db.rater_for(session)
    assert again == ann
    following = db.next_item(again)
    assert following and following.id != item.id
    rows = db.ratings()
    assert len(rows) == 3 and {r["grade"] for r in rows} == {"A", "C", "D"}
    # The grade went to the model shown in that slot.
    models = RatingDB.order(ann.id, item.id, sorted({r["model"] for r in rows}))
    assert {r["model"]: r["grade"] for r in rows}[models[0]] == "A"


@pytest.mark.parametrize(
    ("item", "grades", "message"),
    [
        ("forged-id", {0: "A", 1: "A", 2: "A"}, "unknown item"),
        (None, {0: "A", 1: "A"}, "grade each of slots"),
        (None, {0: "A", 1: "A", 2: "A", 3: "A"}, "grade each of slots"),
        (None, {0: "A", 1: "E", 2: "A"}, "A, B, C or D"),
        (None, {0: "A", 1: "<script>", 2: "A"}, "A, B, C or D"),
    ],
)
def test_forged_submissions_write_nothing(
    tmp_path: Path, item: str | None, grades: dict[int, str], message: str
) -> None:
    db = _predictions_db(tmp_path)
    ann = db.rater_for(db.login(name="ann"))
    assert ann
    shown = db.next_item(ann)
    assert shown
    with pytest.raises(SubmissionError, match=message):
        db.submit(ann, item or shown.id, grades)
    assert db.ratings() == []


def test_raters_per_item_limits_assignment(tmp_path: Path) -> None:
    sheet = AnswerSheet()
    for n in range(3):
        sheet.add(Item(f"i{n}", f"instruction {n}"), "m", "answer")
    db = RatingDB(tmp_path / "r.sqlite")
    db.import_sheet(sheet)
    ann, bob = (db.rater_for(db.login(name=n)) for n in ("ann", "bob"))
    assert ann and bob
    db.submit(ann, "i0", {0: "B"})
    shown = db.next_item(bob, raters_per_item=1)
    assert shown and shown.id == "i1"
    assert db.next_item(bob) is not None and db.next_item(bob).id == "i0"  # type: ignore[union-attr]


def test_invites_and_bad_logins(tmp_path: Path) -> None:
    db = RatingDB(tmp_path / "r.sqlite")
    token = db.invite("carol")
    rater = db.rater_for(db.login(invite=token))
    assert rater and rater.name == "carol"
    assert db.rater_for(db.login(invite=token)) == rater  # until it expires, on any browser
    assert db.login(invite="nope") is None
    assert db.login(name="   ") is None
    assert db.login(name="x" * 81) is None
    assert db.login(name="line\nbreak") is None
    assert db.rater_for("not-a-session") is None
    with pytest.raises(NameTaken):
        db.login(name="carol")  # an invited name is not free for the taking
    renewed = db.invite("carol")  # re-inviting replaces the old link
    assert db.login(invite=token) is None
    assert db.rater_for(db.login(invite=renewed)) == rater
    with pytest.raises(HerdsmanError, match="invite name"):
        db.invite("")
    with pytest.raises(HerdsmanError, match="ttl"):
        db.invite("dave", ttl=0)


def test_agreement_krippendorff(tmp_path: Path) -> None:
    rows = [
        {"rater": r, "item": f"i{n}", "model": "m", "grade": g}
        for r in ("ann", "bob")
        for n, g in enumerate("ABCDAB")
    ]
    assert agreement(rows)["alpha"] == pytest.approx(1.0)
    flipped = rows[:6] + [dict(r, grade="DCBADC"[n]) for n, r in enumerate(rows[6:])]
    assert agreement(flipped)["alpha"] < 0
    assert agreement(rows[:6])["alpha"] is None  # one rater


def test_check_constraint_guards_the_table(tmp_path: Path) -> None:
    db = _predictions_db(tmp_path)
    with sqlite3.connect(db.path) as raw, pytest.raises(sqlite3.IntegrityError):
        raw.execute("INSERT INTO ratings VALUES (1, 'x', 'm', 'Z', 0)")
