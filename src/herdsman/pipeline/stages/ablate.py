"""Stage ``ablate``: did the selection help? One student on the selected vs a random subset.

The herd's student (trained by ``train`` on the selected subset) is compared
with the same student config trained on a random subset of the same size
from the same train split, both evaluated on the same held-out and benchmark
items; the result is the paired difference with its 95% interval
(``ablation/ablation.json``, and a section of the report).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from herdsman.config import StudentConfig
from herdsman.console import console
from herdsman.io.atomic import write_text_atomic
from herdsman.io.jsonl import iter_json_objects
from herdsman.pipeline.context import (
    ABLATION,
    DATASET,
    EVAL,
    SELECTED,
    Context,
    Stage,
    student_dir,
)

RESULT = "ablation.json"
RANDOM_DATA = "random"


def ablation_student(ctx: Context) -> StudentConfig:
    """The student trained on both subsets (``select.ablation.student``, else the first)."""
    wanted = ctx.config.select.ablation.student
    students = ctx.config.students
    return next((s for s in students if s.name == wanted), students[0])


def _random_arm(ctx: Context) -> StudentConfig:
    student = ablation_student(ctx)
    return student.model_copy(update={"name": f"{student.name}-random"})


def _inputs(ctx: Context) -> dict[str, Path]:
    student = ablation_student(ctx)
    return {
        "selected": ctx.path(SELECTED) / "train.jsonl",
        "train": ctx.path(DATASET) / "train.jsonl",
        "held_out": ctx.path(DATASET) / "held_out.jsonl",
        "student": student_dir(ctx, student.name) / "herdsman-train.json",
    }


def _settings(ctx: Context) -> dict[str, Any]:
    return {
        "student": _random_arm(ctx).model_dump(mode="json"),
        "seed": ctx.config.select.seed,
        "evaluation": ctx.config.evaluation.model_dump(
            mode="json",
            include={"tasks", "limit", "batch_size", "imitation_items", "max_new_tokens"},
        ),
    }


def _run_ablate(ctx: Context) -> dict[str, Any]:
    from herdsman.evaluate.evaluator import EvalSettings, Evaluator
    from herdsman.evaluate.models import model_from_dir
    from herdsman.pipeline.training import train_or_reuse
    from herdsman.selection.ablation import compare_arms, random_subset
    from herdsman.train.student import read_outcome

    folder = ctx.path(ABLATION)
    student, arm = ablation_student(ctx), _random_arm(ctx)
    size = sum(1 for _ in iter_json_objects(ctx.path(SELECTED) / "train.jsonl"))
    data = folder / RANDOM_DATA
    random_subset(
        ctx.path(DATASET) / "train.jsonl", size, ctx.config.select.seed, data / "train.jsonl"
    )
    shutil.copyfile(ctx.path(DATASET) / "held_out.jsonl", data / "held_out.jsonl")
    console.print(f"  ablation: {arm.name} on a random {size} of the training pairs")
    random_record = train_or_reuse(arm, data, folder / arm.name)
    selected_record = read_outcome(student_dir(ctx, student.name))
    cfg = ctx.config.evaluation
    evaluator = Evaluator(
        [model_from_dir(student_dir(ctx, student.name)), model_from_dir(folder / arm.name)],
        folder / "eval",
        EvalSettings.from_config(cfg),
        log=console.print,
        answers_dir=ctx.path(EVAL) / "answers",
    )
    benchmarks = evaluator.benchmarks()
    imitation = evaluator.imitation(ctx.path(DATASET) / "held_out.jsonl")
    rows = compare_arms(student.name, arm.name, imitation, benchmarks)
    result = {
        "student": student.name,
        "pairs": size,
        "arms": {
            "selected": _arm(student.name, selected_record),
            "random": _arm(arm.name, random_record),
        },
        "held_out_items": imitation["items"],
        "comparisons": rows,
    }
    write_text_atomic(folder / RESULT, json.dumps(result, indent=1))
    for row in rows:
        console.print(f"  selected vs random, {row['measure']}: {row['verdict']}")
    return {"pairs": size, "comparisons": {r["measure"]: r["verdict"] for r in rows}}


def _arm(name: str, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": name,
        **{
            k: record.get(k)
            for k in ("steps", "examples", "train_seconds", "final_loss", "held_out_loss")
        },
    }


STAGE = Stage(
    "ablate",
    "train one student on a random subset of the selected size and compare (paired, 95% CI)",
    outputs=lambda ctx: [ctx.path(ABLATION) / RESULT],
    inputs=_inputs,
    settings=_settings,
    run=_run_ablate,
    enabled=lambda ctx: ctx.config.select.enabled and ctx.config.select.ablation.enabled,
)
