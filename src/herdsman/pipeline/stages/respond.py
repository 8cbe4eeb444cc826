"""Stage ``respond``: the teacher answers every original and generated instruction once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from herdsman.console import console, progress_bar
from herdsman.errors import IncompleteStage
from herdsman.io.jsonl import iter_json_objects, write_jsonl_atomic
from herdsman.pipeline.context import (
    INSTRUCTIONS,
    RESPONSES,
    SEEDS,
    Context,
    Stage,
)
from herdsman.pipeline.stages.generate import generated_path, strategies


def _respond_inputs(ctx: Context) -> dict[str, Path]:
    inputs = {"seeds": ctx.path(SEEDS)}
    inputs.update({f"generated_{s}": generated_path(ctx, s) for s in strategies(ctx)})
    return inputs


def _respond_settings(ctx: Context) -> dict[str, Any]:
    return {
        "respond": ctx.config.respond.model_dump(mode="json"),
        "originals": [s.originals for s in ctx.config.seeds],
        "teacher": ctx.teacher_identity(),
    }


def _run_respond(ctx: Context) -> dict[str, Any]:
    from herdsman.generation.respond import RespondSettings, respond

    originals = {f"seeds[{i}]" for i, s in enumerate(ctx.config.seeds) if s.originals}
    rows = [obj for _, obj in iter_json_objects(ctx.path(SEEDS)) if obj.get("origin") in originals]
    for strategy in strategies(ctx):
        rows += [obj for _, obj in iter_json_objects(generated_path(ctx, strategy))]
    write_jsonl_atomic(ctx.path(INSTRUCTIONS), rows)
    cfg = ctx.config.respond
    settings = RespondSettings(
        system_prompt=cfg.system_prompt, sampling=cfg.sampling, drop_truncated=cfg.drop_truncated
    )
    with progress_bar("respond") as (bar, task):
        report = respond(
            ctx.teacher(),
            ctx.store(),
            ctx.path(INSTRUCTIONS),
            ctx.path(RESPONSES),
            settings,
            on_total=lambda total: bar.update(task, total=total),
            on_progress=lambda: bar.advance(task),
        )
    console.print(f"  respond: {report.calls.summary()}")
    if report.failed:
        raise IncompleteStage(
            f"respond: {report.failed} of {report.instructions} instructions got no answer "
            f"(listed in {report.failures_path}); re-run to retry them"
        )
    return {
        "instructions": report.instructions,
        "written": report.written,
        "truncated": report.truncated,
    }


STAGE = Stage(
    "respond",
    "the teacher answers every instruction",
    outputs=lambda ctx: [ctx.path(INSTRUCTIONS), ctx.path(RESPONSES)],
    inputs=_respond_inputs,
    settings=_respond_settings,
    run=_run_respond,
    calls_teacher=True,
)
