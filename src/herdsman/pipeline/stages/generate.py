"""Stage ``generate``: example- and topic-guided instruction generation by the teacher."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from herdsman.config import GenerateConfig
from herdsman.console import console, progress_bar
from herdsman.errors import HerdsmanError
from herdsman.pipeline.context import (
    SEEDS,
    TOPICS,
    Context,
    Stage,
)
from herdsman.pipeline.run_files import (
    configured_planner,
    generated_path,
    read_seed_file,
    strategies,
)
from herdsman.store.run_store import RunStore
from herdsman.teachers.base import Teacher
from herdsman.teachers.options import TeacherOptions

if TYPE_CHECKING:
    from herdsman.generation.generate import GenerateReport, GenerateSettings
    from herdsman.generation.prompts import Planner


def _generate_inputs(ctx: Context) -> dict[str, Path]:
    inputs = {"seeds": ctx.path(SEEDS)}
    if "topic" in strategies(ctx):
        inputs["topics"] = ctx.path(TOPICS)
    template = ctx.config.generate.template
    if template:
        inputs["template"] = ctx.loaded.resolve(template)
    return inputs


def _generate_settings(ctx: Context) -> dict[str, Any]:
    return {
        "generate": ctx.config.generate.model_dump(mode="json", exclude={"expected_keep_rate"}),
        "weights": [s.weight for s in ctx.config.seeds],
        "teacher": ctx.teacher_identity(),
    }


def generate_settings(cfg: GenerateConfig, n: int, teacher: TeacherOptions) -> GenerateSettings:
    """The run settings of one strategy: ``wave`` defaults to the teacher's in-flight width."""
    from herdsman.generation.filters import FilterConfig
    from herdsman.generation.generate import GenerateSettings

    try:
        filters = FilterConfig().without(cfg.disable_filters)
    except ValueError as exc:
        raise HerdsmanError(f"disable_filters: {exc}") from None
    return GenerateSettings(
        n=n,
        sampling=cfg.sampling,
        wave=cfg.wave or teacher.in_flight(),
        max_calls=cfg.max_calls,
        threshold=cfg.dedup_threshold,
        dedup_method=cfg.dedup_method,
        filters=filters,
    )


def generate_instructions(
    teacher: Teacher,
    store: RunStore,
    planner: Planner,
    settings: GenerateSettings,
    out: Path,
    indent: str = "",
) -> GenerateReport:
    """The generate operation (``herdsman generate`` and the stage), one strategy.

    Asks the teacher in waves until ``settings.n`` instructions are kept (or the
    call budget is spent), with a progress bar; prints the report's lines.
    """
    from herdsman.generation.generate import generate

    with progress_bar(f"generate ({planner.strategy})") as (bar, task):
        bar.update(task, total=settings.n)
        report = generate(
            teacher, store, planner, settings, out, on_progress=partial(_show_kept, bar, task)
        )
    for line in report.lines():
        console.print(f"{indent}{line}")
    return report


def _show_kept(bar: Any, task: Any, kept: int) -> None:
    bar.update(task, completed=kept)


def _run_generate(ctx: Context) -> dict[str, Any]:
    from herdsman.generation.topics import load_topic_list

    gen = ctx.config.generate
    seeds = read_seed_file(ctx.path(SEEDS))
    topics = load_topic_list(ctx.path(TOPICS)) if "topic" in strategies(ctx) else []
    summary: dict[str, Any] = {}
    for strategy, n in strategies(ctx).items():
        planner = configured_planner(ctx, strategy, seeds, topics)
        settings = generate_settings(gen, n, ctx.teacher_options())
        started = time.perf_counter()
        report = generate_instructions(
            ctx.teacher(), ctx.store(), planner, settings, generated_path(ctx, strategy),
            indent=f"  {strategy}: ",
        )  # fmt: skip
        summary[strategy] = {
            "kept": report.kept,
            "asked": n,
            "calls": report.calls,
            "parsed": report.parsed,
            "filtered": dict(report.filtered),
            "calls_empty": report.calls_empty,
            "exact_duplicates": report.exact_duplicates,
            "near_duplicates": report.near_duplicates,
            "seconds": round(time.perf_counter() - started, 1),
        }
        if not report.reached:
            ctx.notes.append(
                f"generate ({strategy}): kept {report.kept} of {n} within the call budget "
                "(raise generate.max_calls or use a stronger teacher)"
            )
    return summary


STAGE = Stage(
    "generate",
    "example- and topic-guided instruction generation",
    outputs=lambda ctx: [generated_path(ctx, s) for s in strategies(ctx)],
    inputs=_generate_inputs,
    settings=_generate_settings,
    run=_run_generate,
    enabled=lambda ctx: bool(strategies(ctx)),
    calls_teacher=True,
)
