"""What several stages read of the run folder and the config, in one place.

Stage modules never import each other (they talk through files); what more
than one of them needs to know about those files, or about the config, lives
here: which generation strategies run and where each writes, the seeds the
seeds stage wrote, what the dataset stage reads, the planner a config
describes, whether the herd is evaluated, and how the teacher's stored
log-probabilities are exported beside a dataset.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from herdsman.config import GenerateConfig
from herdsman.errors import HerdsmanError
from herdsman.io.jsonl import iter_json_objects
from herdsman.io.logprobs import LogprobsMeta, TeacherTokens, vocab_fingerprint, write_logprobs
from herdsman.pipeline.context import ANSWERS, RESPONSES, Context
from herdsman.records import Seed
from herdsman.store.run_store import RunStore
from herdsman.teachers.openai_http import OpenAIOptions
from herdsman.teachers.options import TeacherOptions

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


#: Where a dataset folder keeps its rows' teacher log-probabilities (one Parquet per split).
LOGPROBS = "logprobs"


def tokenizer_source(options: TeacherOptions) -> str:
    """The folder or hub id of the tokenizer whose ids the teacher's log-probabilities use."""
    if isinstance(options, OpenAIOptions):
        return options.tokenizer or ""
    from herdsman.teachers.local import resolve_model_path

    return str(resolve_model_path(options.model)[0])


def logprobs_meta(options: TeacherOptions, k: int) -> LogprobsMeta:
    """What a log-probability folder says of itself: the tokenizer (by vocabulary hash) and K.

    Raises:
        HerdsmanError: The tokenizer cannot be loaded.
    """
    from transformers import AutoTokenizer

    source = tokenizer_source(options)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise HerdsmanError(f"tokenizer {source}: cannot load it ({exc})") from None
    return LogprobsMeta(source, vocab_fingerprint(dict(tokenizer.get_vocab())), k, options.backend)


def export_logprobs(store: RunStore, rows: Path, out: Path) -> tuple[int, int]:
    """The stored log-probabilities of every row of a LaMini JSONL file, in row order.

    Returns:
        ``(rows written, rows without stored log-probabilities)``.
    """
    missing = 0

    def found() -> Iterator[tuple[str, TeacherTokens]]:
        nonlocal missing
        keys = [obj.get("call_key") for _, obj in iter_json_objects(rows)]
        for start in range(0, len(keys), 1000):
            chunk = [k for k in keys[start : start + 1000] if isinstance(k, str)]
            tokens = store.get_tokens(chunk)
            missing += len(keys[start : start + 1000]) - len(tokens)
            for key in chunk:
                if key in tokens:
                    yield key, tokens[key]

    written = write_logprobs(out, found())
    return written, missing
