"""Stage ``generate``: example- and topic-guided instruction generation by the teacher."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Any

from herdsman.console import console, progress_bar
from herdsman.io.jsonl import iter_json_objects
from herdsman.pipeline.context import (
    SEEDS,
    TOPICS,
    Context,
    Stage,
)
from herdsman.records import Seed


def strategies(ctx: Context) -> dict[str, int]:
    """Generation strategies with a positive count."""
    return {s: n for s, n in ctx.config.generate.strategies.items() if n > 0}


def generated_path(ctx: Context, strategy: str) -> Path:
    """Output of one generation strategy."""
    return ctx.path(f"generated_{strategy}.jsonl")


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


def planner_for(ctx: Context, strategy: str, seeds: list[Seed], topics: list[str]) -> Any:
    """The generation planner of a strategy, as the config describes it."""
    from herdsman.generation.prompts import Planner, PromptTemplate

    gen = ctx.config.generate
    template = PromptTemplate.from_file(ctx.loaded.resolve(gen.template)) if gen.template else None
    weights = {f"seeds[{i}]": s.weight for i, s in enumerate(ctx.config.seeds)}
    return Planner(
        strategy,
        seeds,
        template=template,
        topics=topics,
        seed=gen.seed,
        weights=None if len(weights) == 1 else weights,  # one source: nothing to weigh
    )


def read_seed_file(path: Path) -> list[Seed]:
    """Seeds written by the seeds stage."""
    return [Seed.model_validate(obj) for _, obj in iter_json_objects(path)]


def _show_kept(bar: Any, task: Any, kept: int) -> None:
    bar.update(task, completed=kept)


def _run_generate(ctx: Context) -> dict[str, Any]:
    from herdsman.generation.filters import FilterConfig
    from herdsman.generation.generate import GenerateSettings, generate
    from herdsman.generation.topics import load_topic_list

    gen = ctx.config.generate
    seeds = read_seed_file(ctx.path(SEEDS))
    topics = load_topic_list(ctx.path(TOPICS)) if "topic" in strategies(ctx) else []
    summary: dict[str, Any] = {}
    for strategy, n in strategies(ctx).items():
        planner = planner_for(ctx, strategy, seeds, topics)
        settings = GenerateSettings(
            n=n,
            sampling=gen.sampling,
            wave=gen.wave,
            max_calls=gen.max_calls,
            threshold=gen.dedup_threshold,
            filters=FilterConfig().without(gen.disable_filters),
        )
        started = time.perf_counter()
        with progress_bar(f"generate ({strategy})") as (bar, task):
            bar.update(task, total=n)
            report = generate(
                ctx.teacher(),
                ctx.store(),
                planner,
                settings,
                generated_path(ctx, strategy),
                on_progress=partial(_show_kept, bar, task),
            )
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
        for line in report.lines():
            console.print(f"  {strategy}: {line}")
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
