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


def _push_tokens(ctx: Context) -> dict[str, str]:
    """The token of each student with ``push_to_hub``, by name: refused before any stage runs
    when the hub is offline or the token is missing."""
    from herdsman.io.hub import push_token

    token_env = ctx.config.dataset.hub_token_env
    return {
        s.name: push_token(f"students[{i}].push_to_hub", token_env)
        for i, s in enumerate(ctx.config.students)
        if s.push_to_hub
    }


def _run_train(ctx: Context) -> dict[str, Any]:
    from herdsman.pipeline.training import train_or_reuse, with_teacher
    from herdsman.train.herd import herd_table
    from herdsman.train.push import push_student

    tokens = _push_tokens(ctx)
    outcomes: dict[str, Any] = {}
    for student in ctx.config.students:
        folder = student_dir(ctx, student.name)
        outcomes[student.name] = train_or_reuse(
            with_teacher(student, ctx.teacher_options()), training_dir(ctx), folder
        )
        if student.push_to_hub:
            url = push_student(
                folder,
                student.push_to_hub,
                tokens[student.name],
                private=ctx.config.dataset.private,
            )
            console.print(f"  {student.name}: pushed to {url}")
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
    check=_push_tokens,
)
