"""Stage ``train``: train every student of the herd on the training data (selected, or all)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from herdsman.console import console
from herdsman.pipeline.context import Context, Stage, student_dir, training_dir


def _train_inputs(ctx: Context) -> dict[str, Path]:
    inputs = {s: training_dir(ctx) / f"{s}.jsonl" for s in ("train", "held_out")}
    logprobs = training_dir(ctx) / "logprobs" / "train.parquet"
    if any(s.objective == "kd" for s in ctx.config.students) and logprobs.is_file():
        inputs["logprobs"] = logprobs
    return inputs


def _run_train(ctx: Context) -> dict[str, Any]:
    from herdsman.pipeline.training import train_or_reuse, with_teacher
    from herdsman.train.herd import herd_table

    outcomes: dict[str, Any] = {}
    for student in ctx.config.students:
        outcomes[student.name] = train_or_reuse(
            with_teacher(student, ctx.teacher_options()),
            training_dir(ctx),
            student_dir(ctx, student.name),
        )
    console.print(herd_table(list(outcomes.values())))
    return {
        name: {
            k: o.get(k)
            for k in ("architecture", "parameters", "train_seconds", "final_loss", "held_out_loss")
        }
        for name, o in outcomes.items()
    }


STAGE = Stage(
    "train",
    "train the herd of students",
    outputs=lambda ctx: [student_dir(ctx, s.name) for s in ctx.config.students],
    inputs=_train_inputs,
    settings=lambda ctx: [s.model_dump(mode="json") for s in ctx.config.students],
    run=_run_train,
    enabled=lambda ctx: bool(ctx.config.students),
)
