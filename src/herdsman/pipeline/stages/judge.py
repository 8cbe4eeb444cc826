"""Stage ``judge``: the pipeline's teacher grades the answer sheet with the A-D rubric.

Every judge call is cached in the run store like any other teacher call."""

from __future__ import annotations

import json
from typing import Any

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


def _student_base_pairs(ctx: Context) -> list[tuple[str, str]]:
    """``(student, base)`` names, as the evaluate stage recorded them."""
    path = eval_path(ctx, BENCHMARKS)
    if not path.is_file():
        return []
    models = json.loads(path.read_text(encoding="utf-8")).get("models", [])
    return [
        (m["base_of"], m["name"]) for m in models if m.get("role") == "base" and m.get("base_of")
    ]


def _run_judge(ctx: Context) -> dict[str, Any]:
    from herdsman.evaluate.answer_sheets import read_answer_sheet
    from herdsman.evaluate.judge import compare_pairs, grade_answers
    from herdsman.io.atomic import write_text_atomic

    cfg = ctx.config.evaluation.judge
    sheet = read_answer_sheet([eval_path(ctx, ANSWER_SHEET)])
    pair_models = [m for m in sheet.models if m != TEACHER]
    pairs = len(pair_models) * (len(pair_models) - 1) if cfg.pairwise else 0
    with progress_bar("judge") as (bar, task):
        bar.update(task, total=len(sheet.items) * (len(sheet.models) + pairs))
        report = grade_answers(
            sheet,
            ctx.teacher(),
            ctx.store(),
            cfg.retries,
            on_progress=lambda: bar.advance(task),
            constrained=cfg.constrained,
        )
        if cfg.pairwise:
            compare_pairs(
                sheet, ctx.teacher(), ctx.store(), pair_models, cfg.retries,
                on_progress=lambda: bar.advance(task), report=report,
            )  # fmt: skip
    result = report.as_dict(_student_base_pairs(ctx))
    write_text_atomic(eval_path(ctx, JUDGE), json.dumps(result, indent=1))
    console.print(f"  judge: {report.stats.summary()}")
    failed = result["bias"]["failed"]
    if failed:
        raise IncompleteStage(f"judge: {failed} judge calls failed; re-run to retry them")
    return {"grades": result["grades"], "unparsed": result["bias"]["unparsed"]}


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
