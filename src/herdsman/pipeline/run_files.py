"""What several stages read of the run folder and the config, in one place.

Stage modules never import each other (they talk through files); what more
than one of them needs to know about those files, or about the config, lives
here: which generation strategies run and where each writes, the seeds the
seeds stage wrote, what the dataset stage reads, the planner a config
describes, and whether the herd is evaluated.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from herdsman.config import GenerateConfig
from herdsman.io.jsonl import iter_json_objects
from herdsman.pipeline.context import ANSWERS, RESPONSES, Context
from herdsman.records import Seed

if TYPE_CHECKING:
    from herdsman.generation.prompts import Planner


def strategies(ctx: Context) -> dict[str, int]:
    """Generation strategies with a positive count."""
    return {s: n for s, n in ctx.config.generate.strategies.items() if n > 0}


def generated_path(ctx: Context, strategy: str) -> Path:
    """Output of one generation strategy."""
    return ctx.path(f"generated_{strategy}.jsonl")


def read_seed_file(path: Path) -> list[Seed]:
    """Seeds written by the seeds stage."""
    return [Seed.model_validate(obj) for _, obj in iter_json_objects(path)]


def make_planner(
    strategy: str,
    seeds: list[Seed],
    topics: list[str] | None,
    cfg: GenerateConfig,
    template: Path | None,
    weights: dict[str, float] | None = None,
) -> Planner:
    """The generation planner of a strategy, as the ``generate`` settings describe it.

    Raises:
        HerdsmanError: An unknown strategy, too few seeds, or a bad template file.
    """
    from herdsman.generation.prompts import Planner, PromptTemplate

    return Planner(
        strategy,
        seeds,
        template=PromptTemplate.from_file(template) if template else None,
        topics=topics,
        n_examples=cfg.examples,
        per_call=cfg.per_call,
        topics_per_prompt=cfg.topics_per_prompt,
        seed=cfg.seed,
        weights=weights,
    )


def configured_planner(
    ctx: Context, strategy: str, seeds: list[Seed], topics: list[str] | None
) -> Planner:
    """The planner of a strategy as the run's config describes it (template, source weights)."""
    gen = ctx.config.generate
    template = ctx.loaded.resolve(gen.template) if gen.template else None
    weights = {f"seeds[{i}]": s.weight for i, s in enumerate(ctx.config.seeds)}
    # One source: nothing to weigh.
    return make_planner(
        strategy, seeds, topics, gen, template, None if len(weights) == 1 else weights
    )


def dataset_input(ctx: Context) -> Path:
    """What the dataset stage reads: the gated answers, or every response with the gate off."""
    return ctx.path(ANSWERS) if ctx.config.quality.enabled else ctx.path(RESPONSES)


def evaluation_enabled(ctx: Context) -> bool:
    """Whether the herd is evaluated: there are students and evaluation is on."""
    return bool(ctx.config.students) and ctx.config.evaluation.enabled
