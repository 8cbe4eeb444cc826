"""A judge you can check: controls on every run, and no verdict from a judge that fails them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from herdsman.config import JudgeConfig
from herdsman.evaluate.answer_sheets import AnswerSheet, Item
from herdsman.evaluate.judge import grade_prompt
from herdsman.evaluate.judge_controls import (
    DEGRADED,
    KINDS,
    auc,
    control_sheet,
    looping,
    shuffled,
    truncated,
)
from herdsman.pipeline.stages.judge import judge_answers
from herdsman.store.run_store import RunStore
from herdsman.teachers.registry import teacher_options
from herdsman.testing.stub_server import StubServer
from tests.conftest import require_data


def real_sheet(n: int = 16) -> AnswerSheet:
    """Self-Instruct seed tasks: the teacher's answer is the task's own output; a student
    answers with a loop of it (what a degenerate student writes)."""
    sheet = AnswerSheet()
    with require_data("self_instruct", "seed_tasks.jsonl").open() as handle:
        for line in handle:
            task = json.loads(line)
            output = task["instances"][0]["output"]
            if len(output.split()) < 12 or task["instances"][0]["input"]:
                continue
            item = Item(task["id"], task["instruction"])
            sheet.add(item, "teacher", output)
            sheet.add(item, "student", looping(output))
            if len(sheet.items) == n:
                break
    return sheet


def test_control_answers_are_what_they_say() -> None:
    sheet = real_sheet(6)
    refs = {i.id: sheet.answers[i.id]["teacher"] for i in sheet.items}
    controls = control_sheet(sheet.items, refs, 5, seed=0)
    assert len(controls.items) == 5 and controls.models == [f"control:{k}" for k in KINDS]
    for k, item in enumerate(controls.items):
        answers = {m.split(":")[1]: a for m, a in controls.answers[item.id].items()}
        ref = refs[item.id]
        assert answers["reference"] == ref
        assert answers["off_topic"] == refs[controls.items[(k + 1) % 5].id] != ref
        assert answers["truncated"].split() == ref.split()[: len(ref.split()) // 3]
        assert sorted(answers["shuffled"].split()) == sorted(ref.split())
        assert answers["shuffled"] == shuffled(ref, f"0:{item.id}")  # the same every run
        assert len(set(answers["looping"].split())) <= 5
    assert truncated("one") == "one"
    assert control_sheet(sheet.items[:1], refs, 5, seed=0).items == []  # two needed


def test_auc_counts_ties_half() -> None:
    assert auc([4, 4], [1, 1]) == 1.0
    assert auc([1], [4]) == 0.0
    assert auc([2.0], [2.0 + 1e-12]) == 0.5  # rounding is a tie
    assert auc([], [1.0]) is None


def judge_with(stub: StubServer, mode: str, tmp_path: Path, guided: bool = True) -> dict:
    stub.state.judge = mode
    teacher = teacher_options(backend="openai", model="judge", base_url=stub.url).build()
    cfg = JudgeConfig(controls=16, reference_guided=guided)
    with RunStore(tmp_path / f"{mode}-{guided}.sqlite") as store:
        return judge_answers(real_sheet(), teacher, store, cfg, "teacher", [("student", "teacher")])


def test_a_judge_that_answers_at_random_is_flagged(stub: StubServer, tmp_path: Path) -> None:
    result = judge_with(stub, "random", tmp_path)
    controls = result["controls"]
    assert controls["passed"] is False and controls["items"] == 16
    assert "cannot tell good answers from degraded ones" in controls["verdict"]
    assert result["comparisons"] == [] and result["withheld_comparisons"] == 1
    assert 0.2 < controls["auc"]["auc"] < 0.8 and controls["auc"]["low"] < 0.5


def test_a_judge_that_grades_by_a_correct_rule_passes(stub: StubServer, tmp_path: Path) -> None:
    result = judge_with(stub, "rule", tmp_path)
    controls = result["controls"]
    assert controls["passed"] is True, controls["verdict"]
    assert controls["auc"]["low"] > 0.5 and result["mode"] == "reference-guided"
    for kind in DEGRADED:
        assert controls["differences"][kind]["mean"] > 0, kind
    # Its verdict on the looping student stands: lower than the teacher, with n and interval.
    (comparison,) = result["comparisons"]
    assert comparison["expected_points"]["high"] < 0 and comparison["expected_points"]["n"] == 16
    # The same rule without the reference cannot see anything: the stub then grades by hash.
    blind = judge_with(stub, "rule", tmp_path, guided=False)
    assert blind["controls"]["passed"] is False and blind["mode"] == "rubric"


def test_the_report_draws_no_verdict_from_a_failed_judge(stub: StubServer, tmp_path: Path) -> None:
    from herdsman.report.page import collect, render

    run = tmp_path / "run"
    (run / "eval").mkdir(parents=True)
    failed = judge_with(stub, "random", tmp_path)
    failed["comparisons"] = [  # even if a file carried one, a failed judge's is not shown as one
        {"student": "student", "base": "teacher", "verdict": "lower",
         "expected_points": {"mean": -1.0, "low": -1.5, "high": -0.5, "n": 16}}
    ]  # fmt: skip
    (run / "eval" / "judge.json").write_text(json.dumps(failed))
    html = render(collect(run))
    section = html[html.index('id="ratings"') : html.index("Human raters")]
    assert "did not pass its controls" in section and 'class="greyed"' in section
    assert "a difference the data supports" not in section
    assert "cannot tell good answers from degraded ones" in section


@pytest.fixture(scope="module")
def local_judge():
    from herdsman.teachers.local import LocalTeacher

    teacher = LocalTeacher("smollm2-135m-instruct", batch_size=4)
    teacher.load()
    yield teacher
    teacher.close()


def grade_requests(n: int):
    from herdsman.evaluate.rubric import GRADES
    from herdsman.teachers.base import ChatRequest

    sheet = real_sheet(n)
    out = []
    for item in sheet.items:
        for model in ("teacher", "student"):
            prompt = grade_prompt(item.prompt(), sheet.answers[item.id][model])
            out.append(
                ChatRequest(
                    key=f"{item.id}:{model}",
                    messages=({"role": "user", "content": prompt},),
                    sampling=__import__("herdsman.records").records.SamplingParams(max_tokens=1),
                    choices=GRADES,
                )
            )
    return out[:n]


def test_local_judge_batch_of_four_equals_one_at_a_time(local_judge) -> None:
    requests = grade_requests(4)
    batched = [json.loads(c.text) for c in local_judge.choose(requests)]
    single = [json.loads(local_judge.choose([r])[0].text) for r in requests]
    for a, b in zip(batched, single, strict=True):
        assert a.keys() == b.keys()
        assert all(abs(a[g] - b[g]) < 1e-4 for g in a), (a, b)


def test_local_judge_reads_the_grade_letters_at_the_reply_position(local_judge) -> None:
    """The distribution is the grade letters' probabilities as the reply's first token:
    the last prompt position's logits, not another position's, and not uniform."""
    import torch

    from herdsman.teachers.local import _choice_tokens

    (request,) = grade_requests(1)
    got = json.loads(local_judge.choose([request])[0].text)
    tok, lm = local_judge._tokenizer, local_judge._lm
    ids = tok(local_judge.render(request), return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        logits = lm(**ids).logits[0].float()

    def letters(position: int) -> dict[str, float]:
        probs = torch.softmax(logits[position], dim=-1)
        raw = {g: float(probs[sorted(_choice_tokens(tok, g))].sum()) for g in "ABCD"}
        total = sum(raw.values())
        return {g: v / total for g, v in raw.items()}

    right, wrong = letters(-1), letters(-2)
    assert all(abs(got[g] - right[g]) < 1e-4 for g in "ABCD")
    assert max(abs(got[g] - wrong[g]) for g in "ABCD") > 0.05  # a shifted reading differs
    assert max(abs(got[g] - 0.25) for g in "ABCD") > 0.05  # and it is not uniform
    assert np.isclose(sum(got.values()), 1.0)


def test_pairwise_judging_is_a_constrained_choice_in_both_orders(
    stub: StubServer, tmp_path: Path
) -> None:
    """The stub's pairwise judge gives the probabilities of "1" and "2" (it prefers the
    longer answer): both orders agree, so every pair is decided, for the longer answer."""
    from herdsman.evaluate.judge import compare_pairs

    sheet = real_sheet(6)
    teacher = teacher_options(backend="openai", model="judge", base_url=stub.url).build()
    with RunStore(tmp_path / "pairs.sqlite") as store:
        report = compare_pairs(sheet, teacher, store, ["teacher", "student"], retries=0)
        free = compare_pairs(
            sheet, teacher, store, ["teacher", "student"], retries=0, constrained=False
        )
    assert [p.status for p in report.pairs] == ["decided"] * 6
    assert all(p.winner == p.longer for p in report.pairs if p.longer)
    # Without the constrained choice the stub's free-text replies are no verdicts.
    assert {p.status for p in free.pairs} == {"unparsed"}
