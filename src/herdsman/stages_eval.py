"""The pipeline's last stages: evaluate the herd, judge its answers, write the report.

- ``evaluate``: benchmarks (lm-eval), imitation score, probe answers and the
  answer sheet for judging and human rating, for every student and its base;
- ``judge``: the pipeline's teacher grades the answer sheet with the A-D rubric
  (cached in the run store like every teacher call);
- ``report``: ``RUN_DIR/report.html``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from herdsman.console import console, progress_bar
from herdsman.evaluation import (
    ANSWER_SHEET,
    BENCHMARKS,
    JUDGE,
    PROBES,
    TEACHER,
    EvalSettings,
    Evaluator,
    held_out_rows,
    load_probes,
    read_instruction_items,
)
from herdsman.stages import DATASET, Context, IncompleteStage, Stage, student_dir

EVAL = "eval"
REPORT = "report.html"


def eval_path(ctx: Context, name: str) -> Path:
    """A file of the evaluation folder."""
    return ctx.path(EVAL) / name


def _probes_file(ctx: Context) -> Path | None:
    probes = ctx.config.evaluation.probes
    return ctx.loaded.resolve(probes) if probes else None


def _judge_file(ctx: Context) -> Path | None:
    instructions = ctx.config.evaluation.judge.instructions
    return ctx.loaded.resolve(instructions) if instructions else None


def _evaluate_inputs(ctx: Context) -> dict[str, Path]:
    inputs = {
        f"student:{s.name}": student_dir(ctx, s.name) / "herdsman-train.json"
        for s in ctx.config.students
    }
    inputs["held_out"] = ctx.path(DATASET) / "held_out.jsonl"
    for name, path in (("probes", _probes_file(ctx)), ("judge", _judge_file(ctx))):
        if path is not None:
            inputs[name] = path
    return inputs


def _evaluate_settings(ctx: Context) -> dict[str, Any]:
    return ctx.config.evaluation.model_dump(mode="json", exclude={"judge": {"pairwise", "retries"}})


def _run_evaluate(ctx: Context) -> dict[str, Any]:
    from herdsman.eval_models import collect_models

    cfg = ctx.config.evaluation
    models = collect_models([student_dir(ctx, s.name) for s in ctx.config.students], cfg.bases)
    probes = load_probes(_probes_file(ctx))  # bad input fails before any model loads
    evaluator = Evaluator(
        models,
        ctx.path(EVAL),
        EvalSettings(
            tasks=tuple(cfg.tasks),
            limit=cfg.limit,
            batch_size=cfg.batch_size,
            imitation_items=cfg.imitation_items,
            max_new_tokens=cfg.max_new_tokens,
        ),
        log=console.print,
    )
    benchmarks = evaluator.benchmarks()
    held_out = ctx.path(DATASET) / "held_out.jsonl"
    imitation = evaluator.imitation(held_out) if held_out.is_file() else None
    evaluator.probes(probes)
    judge_file = _judge_file(ctx)
    if judge_file is not None:
        items = read_instruction_items(judge_file, cfg.judge.max_items)
        reference = None
    else:
        from herdsman.answer_sheets import Item, item_id

        rows = held_out_rows(held_out, cfg.judge.max_items) if held_out.is_file() else []
        items = [Item(item_id(r["instruction"], ""), r["instruction"]) for r in rows]
        reference = {i.id: r["response"] for i, r in zip(items, rows, strict=True)}
    evaluator.answer_sheet(items, reference)
    return {
        "models": [m.name for m in models],
        "tasks": benchmarks["tasks"],
        "means": {m["name"]: m["mean"] for m in benchmarks["models"]},
        "imitation": {s["model"]: s["rouge_l"] for s in imitation["scores"]} if imitation else None,
    }


def _run_judge(ctx: Context) -> dict[str, Any]:
    from herdsman.answer_sheets import read_answer_sheet
    from herdsman.atomic import write_text_atomic
    from herdsman.judge import compare_pairs, grade_answers

    cfg = ctx.config.evaluation.judge
    sheet = read_answer_sheet([eval_path(ctx, ANSWER_SHEET)])
    pair_models = [m for m in sheet.models if m != TEACHER]
    pairs = len(pair_models) * (len(pair_models) - 1) if cfg.pairwise else 0
    with progress_bar("judge") as (bar, task):
        bar.update(task, total=len(sheet.items) * (len(sheet.models) + pairs))
        report = grade_answers(
            sheet, ctx.teacher(), ctx.store(), cfg.retries, on_progress=lambda: bar.advance(task)
        )
        if cfg.pairwise:
            compare_pairs(
                sheet, ctx.teacher(), ctx.store(), pair_models, cfg.retries,
                on_progress=lambda: bar.advance(task), report=report,
            )  # fmt: skip
    result = report.as_dict()
    write_text_atomic(eval_path(ctx, JUDGE), json.dumps(result, indent=1))
    console.print(f"  judge: {report.stats.summary()}")
    failed = result["bias"]["failed"]
    if failed:
        raise IncompleteStage(f"judge: {failed} judge calls failed; re-run to retry them")
    return {"grades": result["grades"], "unparsed": result["bias"]["unparsed"]}


def _report_inputs(ctx: Context) -> dict[str, Path]:
    candidates = {
        "stats": ctx.path(DATASET) / "stats.json",
        "train": ctx.path(DATASET) / "train.jsonl",
        "held_out": ctx.path(DATASET) / "held_out.jsonl",
        "imitation": eval_path(ctx, "imitation.json"),
        "analysis": ctx.path("analysis") / "analysis.json",
        "benchmarks": eval_path(ctx, BENCHMARKS),
        "probes": eval_path(ctx, PROBES),
        "judge": eval_path(ctx, JUDGE),
        "ratings": eval_path(ctx, "ratings.sqlite"),
    }
    candidates |= {
        f"student:{s.name}": student_dir(ctx, s.name) / "herdsman-train.json"
        for s in ctx.config.students
    }
    return {name: path for name, path in candidates.items() if path.exists()}


def _run_report(ctx: Context) -> dict[str, Any]:
    from herdsman.report import write_report

    out = ctx.path(REPORT)
    data = write_report(ctx.run_dir, out)
    console.print(f"  report: {out}")
    for part, why in data.missing.items():
        console.print(f"  [yellow]not in the report[/]: {part}: {why}")
    return {"report": str(out), "missing": sorted(data.missing)}


def _evaluation_enabled(ctx: Context) -> bool:
    return bool(ctx.config.students) and ctx.config.evaluation.enabled


EVAL_STAGES: tuple[Stage, ...] = (
    Stage(
        "evaluate",
        "benchmarks, imitation score, probes and answer sheet for the herd",
        outputs=lambda ctx: [eval_path(ctx, n) for n in (BENCHMARKS, PROBES, ANSWER_SHEET)],
        inputs=_evaluate_inputs,
        settings=_evaluate_settings,
        run=_run_evaluate,
        enabled=_evaluation_enabled,
    ),
    Stage(
        "judge",
        "LLM judge grades the answers with the A-D rubric",
        outputs=lambda ctx: [eval_path(ctx, JUDGE)],
        inputs=lambda ctx: {"answer_sheet": eval_path(ctx, ANSWER_SHEET)},
        settings=lambda ctx: {
            "judge": ctx.config.evaluation.judge.model_dump(mode="json"),
            "teacher": ctx.teacher_identity(),
        },
        run=_run_judge,
        enabled=lambda ctx: _evaluation_enabled(ctx) and ctx.config.evaluation.judge.enabled,
        calls_teacher=True,
    ),
    Stage(
        "report",
        "one self-contained HTML report of the run",
        outputs=lambda ctx: [ctx.path(REPORT)],
        inputs=_report_inputs,
        settings=lambda ctx: {"version": 1},
        run=_run_report,
    ),
)
