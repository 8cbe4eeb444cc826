"""Stage ``evaluate``: benchmarks, imitation score, probe answers and the answer sheet for the herd."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from herdsman.console import console
from herdsman.evaluate.degenerate import DEGENERATE
from herdsman.evaluate.evaluator import (
    ANSWER_SHEET,
    BENCHMARKS,
    PROBES,
    EvalSettings,
    Evaluator,
    held_out_rows,
    load_probes,
    read_instruction_items,
)
from herdsman.pipeline.context import (
    DATASET,
    EVAL,
    Context,
    Stage,
    eval_path,
    student_dir,
)
from herdsman.pipeline.run_files import evaluation_enabled


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
    judging = {"pairwise", "retries", "controls", "reference_guided", "constrained"}
    return {
        **ctx.config.evaluation.model_dump(mode="json", exclude={"judge": judging}),
        "quality": ctx.config.quality.model_dump(mode="json"),  # the degenerate-answer rules
    }


def count_degenerate(ctx: Context) -> dict[str, Any]:
    """Every model's answers on the answer sheet through the quality gate's rules
    (``eval/degenerate.json``); prints each model's flagged share."""
    import json

    from herdsman.dataset.quality import settings_from
    from herdsman.evaluate.answer_sheets import read_answer_sheet
    from herdsman.evaluate.degenerate import degenerate_answers
    from herdsman.evaluate.intervals import Interval
    from herdsman.io.atomic import write_text_atomic

    sheet = read_answer_sheet([eval_path(ctx, ANSWER_SHEET)])
    # Truncation is not known from an answer sheet (no finish reason): the other rules apply.
    found = degenerate_answers(sheet, settings_from(ctx.config.quality))
    write_text_atomic(eval_path(ctx, DEGENERATE), json.dumps(found, indent=1))
    for model, row in found["models"].items():
        share = row["share"]
        shown = Interval(**share).text() if share else "no answers"
        rules = ", ".join(f"{r}: {n}" for r, n in row["rules"].items()) or "none"
        console.print(f"  degenerate answers of {model}: {shown} ({rules})")
    return found


def _run_evaluate(ctx: Context) -> dict[str, Any]:
    from herdsman.evaluate.models import collect_models

    cfg = ctx.config.evaluation
    models = collect_models([student_dir(ctx, s.name) for s in ctx.config.students], cfg.bases)
    probes = load_probes(_probes_file(ctx))  # bad input fails before any model loads
    evaluator = Evaluator(
        models,
        ctx.path(EVAL),
        EvalSettings.from_config(cfg),
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
        from herdsman.evaluate.answer_sheets import Item, item_id

        rows = held_out_rows(held_out, cfg.judge.max_items) if held_out.is_file() else []
        items = [Item(item_id(r["instruction"], ""), r["instruction"]) for r in rows]
        reference = {i.id: r["response"] for i, r in zip(items, rows, strict=True)}
    evaluator.answer_sheet(items, reference)
    count_degenerate(ctx)
    return {
        "models": [m.name for m in models],
        "tasks": benchmarks["tasks"],
        "means": {m["name"]: m["mean"] for m in benchmarks["models"]},
        "imitation": {s["model"]: s["rouge_l"] for s in imitation["scores"]} if imitation else None,
    }


STAGE = Stage(
    "evaluate",
    "benchmarks, imitation score, probes and answer sheet for the herd",
    outputs=lambda ctx: [eval_path(ctx, n) for n in (BENCHMARKS, PROBES, ANSWER_SHEET, DEGENERATE)],
    inputs=_evaluate_inputs,
    settings=_evaluate_settings,
    run=_run_evaluate,
    enabled=evaluation_enabled,
)
