"""The human-rating database (SQLite, WAL): items, anonymised answers, raters, ratings.

Each rater sees the answers of an item in an order of their own, fixed by a
hash of (rater, item): stable across reloads and restarts (so a rater can
resume), different between raters (so position effects average out), and
never sent to the browser as model names: the page posts answer *slots*, and
the server maps a slot back to the model. A submission names an item id and
one grade per slot; anything else (unknown item, slot out of range, grade not
A-D) is refused and nothing of it is written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from herdsman.errors import SubmissionError
from herdsman.evaluate.answer_sheets import AnswerSheet
from herdsman.evaluate.rubric import GRADES, POINTS

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY, position INTEGER NOT NULL, instruction TEXT NOT NULL,
    input TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS answers (
    item_id TEXT NOT NULL REFERENCES items(id), model TEXT NOT NULL, text TEXT NOT NULL,
    PRIMARY KEY (item_id, model)
);
CREATE TABLE IF NOT EXISTS raters (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, invite TEXT UNIQUE,
    session TEXT UNIQUE, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS ratings (
    rater_id INTEGER NOT NULL REFERENCES raters(id), item_id TEXT NOT NULL,
    model TEXT NOT NULL, grade TEXT NOT NULL CHECK (grade IN ('A','B','C','D')),
    created_at REAL NOT NULL, PRIMARY KEY (rater_id, item_id, model),
    FOREIGN KEY (item_id, model) REFERENCES answers(item_id, model)
);
"""


@dataclass(frozen=True)
class Rater:
    """A logged-in rater."""

    id: int
    name: str


@dataclass(frozen=True)
class ShownItem:
    """An item as one rater sees it: answers in that rater's order, no model names."""

    id: str
    instruction: str
    input: str
    answers: list[str]


class RatingDB:
    """Access to one rating database file (a new connection per use: safe across threads)."""

    def __init__(self, path: Path) -> None:
        """Open (and create) the database."""
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection with foreign keys on, committed on success, rolled back on error."""
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=30000")
        try:
            with db:
                yield db
        finally:
            db.close()

    # --- content -----------------------------------------------------------------

    def import_sheet(self, sheet: AnswerSheet) -> int:
        """Add items and answers (idempotent: existing ones are kept as they are).

        Returns:
            The number of items added.
        """
        with self.connect() as db:
            start = db.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM items").fetchone()[0]
            before = db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
            db.executemany(
                "INSERT OR IGNORE INTO items (id, position, instruction, input) VALUES (?,?,?,?)",
                [(i.id, start + n, i.instruction, i.input) for n, i in enumerate(sheet.items)],
            )
            db.executemany(
                "INSERT OR IGNORE INTO answers (item_id, model, text) VALUES (?,?,?)",
                [
                    (item_id, model, text)
                    for item_id, by_model in sheet.answers.items()
                    for model, text in by_model.items()
                ],
            )
            after = db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
        return int(after - before)

    def item_count(self) -> int:
        """Items in the database."""
        with self.connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    # --- raters ------------------------------------------------------------------

    def invite(self, name: str) -> str:
        """Create (or re-issue) an invite token for ``name``."""
        token = secrets.token_urlsafe(16)
        with self.connect() as db:
            db.execute(
                "INSERT INTO raters (name, invite, created_at) VALUES (?,?,?) "
                "ON CONFLICT(name) DO UPDATE SET invite = excluded.invite",
                (name, token, time.time()),
            )
        return token

    def login(self, name: str | None = None, invite: str | None = None) -> str | None:
        """Start a session by name (creating the rater) or by invite token.

        Returns:
            A session token, or ``None`` for an unknown invite or an empty name.
        """
        session = secrets.token_urlsafe(24)
        with self.connect() as db:
            if invite is not None:
                cur = db.execute(
                    "UPDATE raters SET session = ? WHERE invite = ?", (session, invite)
                )
                return session if cur.rowcount else None
            name = (name or "").strip()
            if not name or len(name) > 80:
                return None
            db.execute(
                "INSERT INTO raters (name, session, created_at) VALUES (?,?,?) "
                "ON CONFLICT(name) DO UPDATE SET session = excluded.session",
                (name, session, time.time()),
            )
        return session

    def rater_for(self, session: str | None) -> Rater | None:
        """The rater of a session token."""
        if not session:
            return None
        with self.connect() as db:
            row = db.execute("SELECT id, name FROM raters WHERE session = ?", (session,)).fetchone()
        return Rater(int(row[0]), str(row[1])) if row else None

    # --- rating ------------------------------------------------------------------

    @staticmethod
    def order(rater_id: int, item_id: str, models: list[str]) -> list[str]:
        """This rater's fixed order of an item's answers."""
        seed = hashlib.blake2b(f"{rater_id}\x1f{item_id}".encode(), digest_size=8).digest()
        shuffled = sorted(models)
        random.Random(int.from_bytes(seed, "big")).shuffle(shuffled)
        return shuffled

    def _models(self, db: sqlite3.Connection, item_id: str) -> list[str]:
        return [r[0] for r in db.execute("SELECT model FROM answers WHERE item_id = ?", (item_id,))]

    def next_item(self, rater: Rater, raters_per_item: int | None = None) -> ShownItem | None:
        """The first item this rater has not finished (respecting ``raters_per_item``)."""
        query = """
            SELECT i.id, i.instruction, i.input FROM items i
            WHERE (SELECT COUNT(*) FROM ratings r WHERE r.item_id = i.id AND r.rater_id = :rater)
                < (SELECT COUNT(*) FROM answers a WHERE a.item_id = i.id)
        """
        if raters_per_item:
            query += """
              AND (SELECT COUNT(DISTINCT r.rater_id) FROM ratings r
                   WHERE r.item_id = i.id AND r.rater_id != :rater) < :k
            """
        query += " ORDER BY i.position LIMIT 1"
        with self.connect() as db:
            row = db.execute(query, {"rater": rater.id, "k": raters_per_item or 0}).fetchone()
            if row is None:
                return None
            texts = dict(
                db.execute(
                    "SELECT model, text FROM answers WHERE item_id = ?", (row[0],)
                ).fetchall()
            )
        order = self.order(rater.id, row[0], list(texts))
        return ShownItem(row[0], row[1], row[2], [texts[m] for m in order])

    def submit(self, rater: Rater, item_id: str, grades: dict[int, str]) -> int:
        """Record one grade per answer slot of an item (all or nothing).

        Raises:
            SubmissionError: Unknown item, a slot missing or out of range, or a grade not A-D.
        """
        with self.connect() as db:
            models = self._models(db, item_id)
            if not models:
                raise SubmissionError(f"unknown item {item_id!r}")
            order = self.order(rater.id, item_id, models)
            if sorted(grades) != list(range(len(order))):
                raise SubmissionError(
                    f"item {item_id!r} has {len(order)} answers: grade each of slots 0..{len(order) - 1}"
                )
            bad = {g for g in grades.values() if g not in GRADES}
            if bad:
                raise SubmissionError(f"grades must be A, B, C or D (got {sorted(bad)[0]!r})")
            now = time.time()
            db.executemany(
                "INSERT INTO ratings (rater_id, item_id, model, grade, created_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT(rater_id, item_id, model) DO UPDATE SET grade = excluded.grade, "
                "created_at = excluded.created_at",
                [(rater.id, item_id, order[slot], grade, now) for slot, grade in grades.items()],
            )
        return len(grades)

    def progress(self, rater: Rater) -> tuple[int, int]:
        """(items this rater finished, items in all)."""
        with self.connect() as db:
            done = db.execute(
                """SELECT COUNT(*) FROM items i WHERE
                   (SELECT COUNT(*) FROM ratings r WHERE r.item_id = i.id AND r.rater_id = ?)
                   >= (SELECT COUNT(*) FROM answers a WHERE a.item_id = i.id)""",
                (rater.id,),
            ).fetchone()[0]
            total = db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
        return int(done), int(total)

    # --- results -----------------------------------------------------------------

    def ratings(self) -> list[dict[str, Any]]:
        """Every rating with rater name, item, model and grade."""
        with self.connect() as db:
            rows = db.execute(
                """SELECT r.name, t.item_id, i.instruction, t.model, t.grade, t.created_at
                   FROM ratings t JOIN raters r ON r.id = t.rater_id JOIN items i ON i.id = t.item_id
                   ORDER BY i.position, r.name, t.model"""
            ).fetchall()
        keys = ("rater", "item", "instruction", "model", "grade", "created_at")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def grade_counts(self) -> dict[str, dict[str, int]]:
        """Per model: counts of A-D over all raters."""
        out: dict[str, dict[str, int]] = {}
        for row in self.ratings():
            out.setdefault(row["model"], dict.fromkeys(GRADES, 0))[row["grade"]] += 1
        return out

    def export(self, fmt: str) -> str:
        """All ratings as ``csv`` or ``json`` text."""
        rows = self.ratings()
        if fmt == "json":
            return json.dumps(rows, ensure_ascii=False, indent=1)
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer, fieldnames=["rater", "item", "instruction", "model", "grade", "created_at"]
        )
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue()


def agreement(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Krippendorff's alpha (ordinal, A > B > C > D) over (item, model) units.

    Returns:
        ``{"alpha", "raters", "units"}``; alpha is ``None`` with fewer than two
        raters on any unit or no variation at all.
    """
    import krippendorff
    import numpy as np

    raters = sorted({r["rater"] for r in rows})
    units = sorted({(r["item"], r["model"]) for r in rows})
    matrix = np.full((len(raters), len(units)), np.nan)
    rater_index = {name: n for n, name in enumerate(raters)}
    unit_index = {unit: n for n, unit in enumerate(units)}
    for r in rows:
        matrix[rater_index[r["rater"]], unit_index[(r["item"], r["model"])]] = POINTS[r["grade"]]
    shared = int(np.sum(np.sum(~np.isnan(matrix), axis=0) >= 2))
    alpha = None
    if len(raters) >= 2 and shared and len(np.unique(matrix[~np.isnan(matrix)])) > 1:
        alpha = float(krippendorff.alpha(reliability_data=matrix, level_of_measurement="ordinal"))
    return {"alpha": alpha, "raters": len(raters), "units": len(units), "shared_units": shared}
