"""Stage ``judge``: the pipeline's teacher grades the answer sheet with the A-D rubric.

Every run also grades the controls (:mod:`herdsman.evaluate.judge_controls`);
a judge that fails them draws no verdict. Every judge call is cached in the
run store like any other teacher call."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from herdsman.config import JudgeConfig
from herdsman.console import console, progress_bar
from herdsman.errors import IncompleteStage
from herdsman.evaluate.evaluator import (
    ANSWER_SHEET,
    BENCHMARKS,
    JUDGE,
    TEACHER,
)
from herdsman.pipeline.context import (
    Context,
    Stage,
    eval_path,
)
from herdsman.pipeline.run_files import evaluation_enabled
from herdsman.store.run_store import RunStore
from herdsman.teachers.base import Teacher

if TYPE_CHECKING:
    from herdsman.evaluate.answer_sheets import AnswerSheet


def _student_base_pairs(ctx: Context) -> list[tuple[str, str]]:
    """``(student, base)`` names, as the evaluate stage recorded them."""
    path = eval_path(ctx, BENCHMARKS)
    if not path.is_file():
        return []
    models = json.loads(path.read_text(encoding="utf-8")).get("models", [])
    return [
        (m["base_of"], m["name"]) for m in models if m.get("role") == "base" and m.get("base_of")
    ]


def judge_answers(
    sheet: AnswerSheet,
    teacher: Teacher,
    store: RunStore,
    cfg: JudgeConfig,
    reference_model: str | None = TEACHER,
    comparisons: list[tuple[str, str]] | None = None,
    indent: str = "",
) -> dict[str, Any]:
    """The judge operation (``herdsman judge`` and the stage): grade, check, compare.

    Grades every answer (reference-guided when ``cfg.reference_guided`` and the
    sheet has ``reference_model``'s answers), then the controls on the first
    ``cfg.controls`` items (see :mod:`herdsman.evaluate.judge_controls`), then
    pairs when asked. The result (``judge.json``) carries the controls' verdict;
    when the judge failed them, the student-versus-base comparisons are withheld.
    """
    from herdsman.evaluate.judge import compare_pairs, grade_answers, merge_stats
    from herdsman.evaluate.judge_controls import KINDS, control_sheet, evaluate_controls

    references = {
        item.id: sheet.answers[item.id][reference_model]
        for item in sheet.items
        if reference_model and reference_model in sheet.answers[item.id]
    }
    guided = references if cfg.reference_guided and references else None
    mode = "reference-guided" if guided else "rubric"
    controls = control_sheet(sheet.items, references, cfg.controls, seed=0)
    pair_models = [m for m in sheet.models if m != reference_model]
    pairs = len(pair_models) * (len(pair_models) - 1) if cfg.pairwise else 0
    total = len(sheet.items) * (len(sheet.models) + pairs) + len(controls.items) * len(KINDS)
    with progress_bar("judge") as (bar, task):
        bar.update(task, total=total)
        report = grade_answers(
            sheet, teacher, store, cfg.retries, on_progress=lambda: bar.advance(task),
            constrained=cfg.constrained, references=guided,
        )  # fmt: skip
        checked = grade_answers(
            controls, teacher, store, cfg.retries, on_progress=lambda: bar.advance(task),
            constrained=cfg.constrained, references=guided if guided else None,
        )  # fmt: skip
        if cfg.pairwise:
            compare_pairs(
                sheet, teacher, store, pair_models, cfg.retries,
                on_progress=lambda: bar.advance(task), report=report, constrained=cfg.constrained,
            )  # fmt: skip
    control = evaluate_controls(checked.judgements, mode)
    merge_stats(report.stats, checked.stats)  # the controls' calls count as the judge's
    result = report.as_dict(comparisons or [])
    result["mode"] = mode
    result["controls"] = control.as_dict()
    if not control.passed:
        result["withheld_comparisons"] = len(result["comparisons"])
        result["comparisons"] = []
    result["controls"]["judgements"] = [
        {"item": j.item, "kind": j.model.split(":", 1)[1], "expected": j.expected, "grade": j.grade}
        for j in checked.judgements
    ]
    console.print(f"{indent}judge: {control.verdict}")
    return result


def _run_judge(ctx: Context) -> dict[str, Any]:
    from herdsman.evaluate.answer_sheets import read_answer_sheet
    from herdsman.io.atomic import write_text_atomic

    cfg = ctx.config.evaluation.judge
    sheet = read_answer_sheet([eval_path(ctx, ANSWER_SHEET)])
    result = judge_answers(
        sheet, ctx.teacher(), ctx.store(), cfg, TEACHER, _student_base_pairs(ctx), indent="  "
    )
    write_text_atomic(eval_path(ctx, JUDGE), json.dumps(result, indent=1))
    console.print(f"  judge: {result['calls']}")
    failed = result["bias"]["failed"]
    if failed:
        raise IncompleteStage(f"judge: {failed} judge calls failed; re-run to retry them")
    return {
        "grades": result["grades"],
        "unparsed": result["bias"]["unparsed"],
        "controls_passed": result["controls"]["passed"],
    }


STAGE = Stage(
    "judge",
    "LLM judge grades the answers with the A-D rubric",
    outputs=lambda ctx: [eval_path(ctx, JUDGE)],
    inputs=lambda ctx: {"answer_sheet": eval_path(ctx, ANSWER_SHEET)},
    settings=lambda ctx: {
        "judge": ctx.config.evaluation.judge.model_dump(mode="json"),
        "teacher": ctx.teacher_identity(),
    },
    run=_run_judge,
    enabled=lambda ctx: evaluation_enabled(ctx) and ctx.config.evaluation.judge.enabled,
    calls_teacher=True,
)
