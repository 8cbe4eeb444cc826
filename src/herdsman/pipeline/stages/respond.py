"""Stage ``respond``: the teacher answers every original and generated instruction once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from herdsman.config import RespondConfig
from herdsman.console import console, progress_bar
from herdsman.errors import HerdsmanError, IncompleteStage
from herdsman.io.jsonl import iter_json_objects, write_jsonl_atomic
from herdsman.pipeline.context import (
    INSTRUCTIONS,
    RESPONSES,
    SEEDS,
    Context,
    Stage,
)
from herdsman.pipeline.run_files import (
    export_logprobs,
    generated_path,
    logprobs_meta,
    strategies,
)
from herdsman.store.run_store import RunStore
from herdsman.teachers.base import Teacher
from herdsman.teachers.options import TeacherOptions

if TYPE_CHECKING:
    from herdsman.generation.respond import RespondReport, RespondSettings


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


def respond_settings(
    cfg: RespondConfig, teacher: TeacherOptions, fmt: str = "auto"
) -> RespondSettings:
    """The answering settings of a ``respond`` section (and the input file's format).

    Raises:
        HerdsmanError: ``logprobs`` above what the teacher's backend returns.
    """
    from herdsman.generation.respond import RespondSettings

    cap = teacher.max_logprobs()
    if cfg.logprobs and cap is not None and cfg.logprobs > cap:
        raise HerdsmanError(
            f"logprobs: {cfg.logprobs} is more than the {teacher.backend} backend returns "
            f"(at most {cap} per token)"
        )
    if cfg.logprobs and teacher.backend == "openai" and not getattr(teacher, "tokenizer", None):
        raise HerdsmanError(
            "logprobs: the openai backend needs teacher.tokenizer (--tokenizer), the served "
            "model's tokenizer, to turn the server's tokens into ids"
        )
    if cfg.logprobs and getattr(teacher, "batch_api", False):
        raise HerdsmanError("logprobs: not available through the Batch API (batch_api: false)")
    return RespondSettings(
        system_prompt=cfg.system_prompt,
        sampling=cfg.sampling,
        default_source=cfg.source,
        drop_truncated=cfg.drop_truncated,
        fmt=fmt,
        logprobs=cfg.logprobs,
    )


def answer_instructions(
    teacher: Teacher,
    store: RunStore,
    instructions: Path,
    out: Path,
    settings: RespondSettings,
    *,
    skip_bad: bool = False,
) -> RespondReport:
    """The respond operation (``herdsman respond`` and the stage): every instruction answered
    once, in input order, with a progress bar."""
    from herdsman.generation.respond import respond

    if not instructions.exists():
        raise HerdsmanError(f"{instructions}: no such file")
    with progress_bar("respond") as (bar, task):
        return respond(
            teacher,
            store,
            instructions,
            out,
            settings,
            skip_bad=skip_bad,
            on_total=lambda total: bar.update(task, total=total),
            on_progress=lambda: bar.advance(task),
        )


def _run_respond(ctx: Context) -> dict[str, Any]:
    originals = {f"seeds[{i}]" for i, s in enumerate(ctx.config.seeds) if s.originals}
    rows = [obj for _, obj in iter_json_objects(ctx.path(SEEDS)) if obj.get("origin") in originals]
    for strategy in strategies(ctx):
        rows += [obj for _, obj in iter_json_objects(generated_path(ctx, strategy))]
    write_jsonl_atomic(ctx.path(INSTRUCTIONS), rows)
    report = answer_instructions(
        ctx.teacher(batch=True),  # every call known up front: the Batch API pays here
        ctx.store(),
        ctx.path(INSTRUCTIONS),
        ctx.path(RESPONSES),
        respond_settings(ctx.config.respond, ctx.teacher_options()),
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


def export_answer_logprobs(store: RunStore, out: Path, options: TeacherOptions, k: int) -> Path:
    """``respond --logprobs``: the answers' log-probabilities beside ``OUT``.

    Written to ``OUT.logprobs/answers.parquet`` with its ``meta.json`` (the
    layout of a dataset's ``logprobs/`` folder), in the order of ``OUT``'s rows.
    """
    folder = out.with_name(out.name + ".logprobs")
    written, missing = export_logprobs(store, out, folder / "answers.parquet")
    logprobs_meta(options, k).write(folder)
    console.print(f"wrote the teacher's top-{k} log-probabilities of {written} answers to {folder}")
    if missing:
        console.print(f"{missing} answer(s) have no stored log-probabilities")
    return folder
