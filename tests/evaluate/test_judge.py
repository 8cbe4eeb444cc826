"""The A-D judge: strict parsing, retries, caching in the run store, pairwise bias stats."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from herdsman.evaluate.answer_sheets import AnswerSheet, Item, read_answer_sheet
from herdsman.evaluate.judge import (
    answer_under_grading,
    bias_statistics,
    compare_pairs,
    grade_answers,
    grade_prompt,
    parse_grade,
    parse_preference,
)
from herdsman.store.run_store import RunStore
from herdsman.teachers.factory import build_teacher
from herdsman.teachers.registry import teacher_options
from herdsman.testing.stub_server import StubServer, stub_grade
from tests.conftest import assert_one_line_error, require_data, run_cli


@pytest.mark.parametrize(
    ("reply", "grade"),
    [
        ("A", "A"),
        ("B. Minor errors in the second sentence.", "B"),
        ("**C**", "C"),
        ("Grade: d", "D"),
        ("(A) it is fine", "A"),
        ("A good answer overall.", None),  # prose, not a grade
        ("The grade is A", None),  # does not start with the grade
        ("E", None),
        ("", None),
        ("A: valid and satisfying.\nB: acceptable with minor errors.", None),  # the rubric recited
        ("b.", None),
    ],
)
def test_parse_grade_is_strict(reply: str, grade: str | None) -> None:
    assert parse_grade(reply) == grade


def test_parse_preference() -> None:
    assert parse_preference("1") == "1"
    assert parse_preference("Answer 2 is better.") == "2"
    assert parse_preference("Tie: both are fine") == "tie"
    assert parse_preference("12") is None
    assert parse_preference("Both are good") is None


@pytest.mark.parametrize(
    ("instruction", "answer"),
    [
        ("Name a primary colour.", "Red."),
        ("Say hi.", ""),
        ("Two paragraphs.\n\nThe second.", "Line one.\n\n### Answer:\nagain\n\n### Grade: A\n"),
    ],
)
def test_answer_under_grading_reads_back_the_grade_prompt(instruction: str, answer: str) -> None:
    assert answer_under_grading(grade_prompt(instruction, answer)) == answer
    assert answer_under_grading(grade_prompt(instruction, answer) + "\nA") is None


def test_answer_under_grading_is_none_for_other_prompts() -> None:
    assert answer_under_grading("Name a primary colour.") is None
    assert answer_under_grading("### Answer:\nRed.\n\n### Grade:") is None  # no rubric
    assert answer_under_grading(grade_prompt("Q", "A").replace("### Grade:", "### Score:")) is None


def _sheet() -> AnswerSheet:
    sheet = AnswerSheet()
    item = Item("q1", "Name a primary colour.")
    sheet.add(item, "good", "Red. [[replies:A]]")
    sheet.add(item, "rambler", "Blue, maybe. [[replies:I think this is quite nice|B]]")
    sheet.add(item, "hopeless", "Green? [[replies:Hmm.|Still thinking.]]")
    return sheet


def _teacher(stub: StubServer):  # type: ignore[no-untyped-def]
    return build_teacher(
        teacher_options(backend="openai", model="judge-stub", base_url=stub.url, max_retries=0)
    )


def test_grades_retry_and_unparsed_are_never_guessed(stub: StubServer, tmp_path: Path) -> None:
    with RunStore(tmp_path / "store.sqlite") as store:
        report = grade_answers(_sheet(), _teacher(stub), store, retries=1)
    by_model = {j.model: j for j in report.judgements}
    assert (by_model["good"].grade, by_model["good"].attempts) == ("A", 1)
    assert (by_model["rambler"].grade, by_model["rambler"].attempts) == ("B", 2)
    assert by_model["hopeless"].grade is None
    assert by_model["hopeless"].status == "unparsed"
    assert by_model["hopeless"].reply == "Still thinking."
    assert report.grade_counts()["hopeless"]["unparsed"] == 1
    assert stub.state.requests == 5  # 3 first asks + 2 reminders


def test_judgements_are_cached_in_the_run_store(stub: StubServer, tmp_path: Path) -> None:
    with RunStore(tmp_path / "store.sqlite") as store:
        first = grade_answers(_sheet(), _teacher(stub), store)
        made = stub.state.requests
        again = grade_answers(_sheet(), _teacher(stub), store)
    assert stub.state.requests == made
    assert [j.grade for j in again.judgements] == [j.grade for j in first.judgements]
    assert again.stats.cached == made


def test_failed_calls_are_recorded_as_failed(stub: StubServer, tmp_path: Path) -> None:
    sheet = AnswerSheet()
    sheet.add(Item("q", "Say hi."), "m", "hi [[always500]]")
    with RunStore(tmp_path / "store.sqlite") as store:
        report = grade_answers(sheet, _teacher(stub), store)
    assert report.judgements[0].status == "failed"
    assert bias_statistics(report)["failed"] == 1


def test_pairwise_position_bias_becomes_ties(stub: StubServer, tmp_path: Path) -> None:
    # A judge that always prefers whatever is shown first: every pair disagrees across orders.
    sheet = AnswerSheet()
    for n in range(3):
        item = Item(f"q{n}", f"Question {n} [[replies:1]]")
        sheet.add(item, "short", "Yes.")
        sheet.add(item, "long", "Yes, and here is a much longer explanation of why.")
    with RunStore(tmp_path / "store.sqlite") as store:
        report = compare_pairs(sheet, _teacher(stub), store)
    assert [p.status for p in report.pairs] == ["disagreement"] * 3
    assert all(p.winner is None for p in report.pairs)
    stats = bias_statistics(report)
    assert stats["first_position_rate"] == 1.0
    assert stats["order_agreement"] == 0.0
    assert stats["longer_wins_rate"] is None  # no decided pair


def test_pairwise_consistent_judge_decides(stub: StubServer, tmp_path: Path) -> None:
    # The scripted reply is the first marker in the prompt: "1" when "good" is shown first,
    # "2" when "bad" is shown first, so both orders pick "good".
    sheet = AnswerSheet()
    item = Item("q", "Name the capital of France.")
    sheet.add(item, "good", "Paris is the capital of France. [[replies:1]]")
    sheet.add(item, "bad", "London. [[replies:2]]")
    with RunStore(tmp_path / "store.sqlite") as store:
        report = compare_pairs(sheet, _teacher(stub), store)
    assert (report.pairs[0].status, report.pairs[0].winner) == ("decided", "good")
    stats = bias_statistics(report)
    assert stats["order_agreement"] == 1.0
    assert stats["first_position_rate"] == 0.5
    assert stats["longer_wins_rate"] == 1.0


def test_judge_cli_on_real_predictions(stub: StubServer, tmp_path: Path) -> None:
    files = sorted(require_data("self_instruct", "predictions").glob("*_predictions.jsonl"))
    sheet = read_answer_sheet(files)
    assert len(sheet.items) == 252 and len(sheet.models) == 3
    assert sheet.models == ["davinci-self-instruct", "davinci", "text-davinci-003"]
    out = tmp_path / "judge.json"
    result = run_cli(
        "judge", *map(str, files), "-o", str(out), "--limit", "5", "--retries", "0",
        "--teacher", "openai", "--model", "stub", "--base-url", stub.url,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    # The stub grades each answer by its hash: every answer is graded, and each
    # model's counts are those of its own five answers (no mix-up between models).
    assert data["bias"]["unparsed"] == 0 and data["bias"]["failed"] == 0
    for model in sheet.models:
        expected = Counter(stub_grade(sheet.answers[i.id][model]) for i in sheet.items[:5])
        got = {g: n for g, n in data["grades"][model].items() if g in "ABCD" and n}
        assert got == dict(expected), model


def test_judge_cli_bad_answer_file(tmp_path: Path) -> None:
    bad = tmp_path / "answers.jsonl"
    bad.write_text('{"instruction": "x", "answer": "y"}\n{"instruction": "z"}\n')
    result = run_cli("judge", str(bad), "-o", str(tmp_path / "j.json"))
    assert_one_line_error(result, f"{bad}:2", "answer")
    assert not (tmp_path / "j.json").exists()


def test_a_local_judge_always_grades_by_constrained_choice(tmp_path: Path) -> None:
    from herdsman.teachers.local import LocalTeacher
    from tests.helpers.tiny_models import tiny_causal

    files = sorted(require_data("self_instruct", "predictions").glob("*_predictions.jsonl"))
    full = read_answer_sheet(files)
    items = full.items[:4]
    sheet = AnswerSheet(items, {i.id: full.answers[i.id] for i in items}, full.models)
    # A random 2-layer model: its free text is never a grade, its first token always is one.
    judge = LocalTeacher(str(tiny_causal(tmp_path / "judge", initializer_range=0.2)), batch_size=4)
    with RunStore(tmp_path / "store.sqlite") as store:
        free = grade_answers(sheet, judge, store, retries=0, constrained=False)
        chosen = grade_answers(sheet, judge, store, retries=0)
    assert all(j.status == "unparsed" for j in free.judgements)
    assert len(chosen.judgements) == 12 and all(j.status == "graded" for j in chosen.judgements)
    for j in chosen.judgements:
        assert j.distribution is not None and set(j.distribution) == {"A", "B", "C", "D"}
        assert sum(j.distribution.values()) == pytest.approx(1.0)
        assert j.grade == max(j.distribution, key=j.distribution.__getitem__)
        points = {"A": 4, "B": 3, "C": 2, "D": 1}
        assert j.expected == pytest.approx(sum(points[g] * p for g, p in j.distribution.items()))
    assert chosen.as_dict()["bias"]["unparsed"] == 0


def test_openai_logprobs_grade_and_a_server_without_them_falls_back(
    stub: StubServer, tmp_path: Path
) -> None:
    files = sorted(require_data("self_instruct", "predictions").glob("*_predictions.jsonl"))
    full = read_answer_sheet(files)
    items = full.items[:3]
    sheet = AnswerSheet(items, {i.id: full.answers[i.id] for i in items}, full.models)
    with RunStore(tmp_path / "store.sqlite") as store:
        with_logprobs = grade_answers(sheet, _teacher(stub), store, retries=0)
        stub.state.logprobs = False
        with RunStore(tmp_path / "other.sqlite") as fresh:
            without = grade_answers(sheet, _teacher(stub), fresh, retries=0)
    for j in with_logprobs.judgements:
        expected = stub_grade(sheet.answers[j.item][j.model])
        assert j.grade == expected and j.distribution is not None
        assert j.distribution[expected] == pytest.approx(0.7)
    for j in without.judgements:  # free text, parsed strictly: the same grades
        assert j.grade == stub_grade(sheet.answers[j.item][j.model]) and j.distribution is None
