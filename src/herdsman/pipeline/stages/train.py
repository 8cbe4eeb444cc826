"""Stage ``train``: train every student of the herd on the dataset's train split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from herdsman.console import console
from herdsman.errors import HerdsmanError
from herdsman.pipeline.context import (
    DATASET,
    Context,
    Stage,
    student_dir,
)


def _train_inputs(ctx: Context) -> dict[str, Path]:
    return {s: ctx.path(DATASET) / f"{s}.jsonl" for s in ("train", "held_out")}


def _run_train(ctx: Context) -> dict[str, Any]:
    from herdsman.pipeline.fingerprint import fingerprint
    from herdsman.train.herd import herd_table
    from herdsman.train.student import read_outcome, train_student

    inputs = _train_inputs(ctx)
    outcomes: dict[str, Any] = {}
    for student in ctx.config.students:
        folder = student_dir(ctx, student.name)
        mark = fingerprint(student.model_dump(mode="json"), inputs)
        try:
            done = read_outcome(folder)
        except HerdsmanError:
            done = {}
        if done.get("fingerprint") == mark:
            console.print(f"  {student.name}: up to date")
            outcomes[student.name] = done
            continue
        outcome = train_student(student, ctx.path(DATASET), folder, fingerprint=mark)
        outcomes[student.name] = read_outcome(folder)
        console.print(
            f"  {student.name}: {outcome.steps} steps in {outcome.train_seconds:.0f}s, "
            f"final loss {outcome.final_loss}, held-out loss {outcome.held_out_loss}"
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
