"""Stage ``seeds``: load every configured seed source into one normalised ``seeds.jsonl``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from herdsman.io.jsonl import write_jsonl_atomic
from herdsman.pipeline.context import (
    SEEDS,
    Context,
    Stage,
)
from herdsman.records import Seed


def load_configured_seeds(ctx: Context) -> list[Seed]:
    """Every configured seed source, loaded and tagged with its ``origin`` (``seeds[i]``)."""
    from herdsman.generation.seeds import load_seeds

    seeds: list[Seed] = []
    for i, source in enumerate(ctx.config.seeds):
        loaded = list(
            load_seeds(ctx.loaded.resolve(source.path), source.format, skip_bad=source.skip_bad)
        )
        if source.limit:
            loaded = loaded[: source.limit]
        seeds += [s.model_copy(update={"origin": f"seeds[{i}]"}) for s in loaded]
    return seeds


def _run_seeds(ctx: Context) -> dict[str, Any]:
    seeds = load_configured_seeds(ctx)
    write_jsonl_atomic(ctx.path(SEEDS), seeds)
    return {"seeds": len(seeds)}


def _seed_inputs(ctx: Context) -> dict[str, Path]:
    return {f"seeds[{i}]": ctx.loaded.resolve(s.path) for i, s in enumerate(ctx.config.seeds)}


STAGE = Stage(
    "seeds",
    "load and normalise the seed sources",
    outputs=lambda ctx: [ctx.path(SEEDS)],
    inputs=_seed_inputs,
    settings=lambda ctx: [s.model_dump(mode="json") for s in ctx.config.seeds],
    run=_run_seeds,
)
