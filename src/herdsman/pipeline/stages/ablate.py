"""Stage ``ablate``: one student trained twice, changing one thing, compared on the same items.

``ablation.compare: selection`` (did the selection help?): the herd's student
(trained by ``train`` on the selected subset) against the same student config
trained on a random subset of the same size from the same train split.
``ablation.compare: objective`` (did logit distillation help?): the herd's
student trained with ``kd`` (or ``gkd``) against its twin trained with ``sft``
from the same start (the same base, or the same pruned teacher), on the same
data, for the same number of steps. Both arms are evaluated on the same
held-out and benchmark items; the result is the paired difference with its
95% interval (``ablation/ablation.json``, and a section of the report).
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
    training_dir,
)
from herdsman.pipeline.training import learned_settings

RESULT = "ablation.json"
RANDOM_DATA = "random"


def ablation_student(ctx: Context) -> StudentConfig:
    """The student trained twice (``ablation.student``, else the first)."""
    wanted = ctx.config.ablation.student
    students = ctx.config.students
    return next((s for s in students if s.name == wanted), students[0])


def _second_arm(ctx: Context) -> StudentConfig:
    """The other arm: the same config on random data, or with ``objective: sft``.

    The twin is a measurement, never published: it has no ``push_to_hub``.
    """
    student = ablation_student(ctx).model_copy(update={"push_to_hub": None})
    if ctx.config.ablation.compare == "objective":
        return student.model_copy(update={"name": f"{student.name}-sft", "objective": "sft"})
    return student.model_copy(update={"name": f"{student.name}-random"})


def _inputs(ctx: Context) -> dict[str, Path]:
    student = ablation_student(ctx)
    inputs = {
        "train": ctx.path(DATASET) / "train.jsonl",
        "held_out": ctx.path(DATASET) / "held_out.jsonl",
        "student": student_dir(ctx, student.name) / "herdsman-train.json",
    }
    if ctx.config.ablation.compare == "selection":
        inputs["selected"] = ctx.path(SELECTED) / "train.jsonl"
    return inputs


def _settings(ctx: Context) -> dict[str, Any]:
    """What the stage's result depends on: pushing or tracking a student changes none of it."""
    return {
        "compare": ctx.config.ablation.compare,
        "student": learned_settings(_second_arm(ctx)),
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
    compare = ctx.config.ablation.compare
    student, arm = ablation_student(ctx), _second_arm(ctx)
    first_record = read_outcome(student_dir(ctx, student.name))
    labels: tuple[str, str]
    if compare == "objective":
        labels = ("kd" if student.objective == "kd" else student.objective, "sft")
        # The same start, data and number of optimizer steps as the distilled student.
        arm = arm.model_copy(update={"max_steps": first_record["steps"]})
        data = training_dir(ctx)
        size = sum(1 for _ in iter_json_objects(data / "train.jsonl"))
        console.print(f"  ablation: {arm.name}, the same student trained with sft")
    else:
        labels = ("selected", "random")
        size = sum(1 for _ in iter_json_objects(ctx.path(SELECTED) / "train.jsonl"))
        data = folder / RANDOM_DATA
        random_subset(
            ctx.path(DATASET) / "train.jsonl", size, ctx.config.select.seed, data / "train.jsonl"
        )
        shutil.copyfile(ctx.path(DATASET) / "held_out.jsonl", data / "held_out.jsonl")
        console.print(f"  ablation: {arm.name} on a random {size} of the training pairs")
    second_record = train_or_reuse(arm, data, folder / arm.name)
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
        "compare": compare,
        "labels": list(labels),
        "student": student.name,
        "pairs": size,
        "arms": {
            labels[0]: _arm(student.name, first_record),
            labels[1]: _arm(arm.name, second_record),
        },
        "held_out_items": imitation["items"],
        "comparisons": rows,
    }
    write_text_atomic(folder / RESULT, json.dumps(result, indent=1))
    for row in rows:
        console.print(f"  {labels[0]} vs {labels[1]}, {row['measure']}: {row['verdict']}")
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
    "train one student a second time (random data, or sft) and compare (paired, 95% CI)",
    outputs=lambda ctx: [ctx.path(ABLATION) / RESULT],
    inputs=_inputs,
    settings=_settings,
    run=_run_ablate,
    enabled=lambda ctx: (
        ctx.config.ablation.enabled
        and (ctx.config.ablation.compare == "objective" or ctx.config.select.enabled)
    ),
)
