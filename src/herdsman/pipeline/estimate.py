"""``herdsman run --dry-run``: teacher calls, tokens, money and time per stage, before any call.

Nothing here builds a teacher or opens a connection. Prompts are the real
ones (the planner renders them exactly as the run will); token counts come
from the teacher's tokenizer when it is on disk, otherwise from 4 characters
per token (marked as such). Completion tokens are given twice: an expected
figure (generation: the asked-for items at the seeds' mean length; answers:
the seeds' mean reference-output length) and the ceiling ``calls x max_tokens``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from herdsman.io.logprobs import bytes_per_token
from herdsman.pipeline.context import Context
from herdsman.pipeline.run_files import configured_planner, strategies
from herdsman.pipeline.stages.seeds import load_configured_seeds
from herdsman.records import Seed
from herdsman.teachers.openai_http import OpenAIOptions

SAMPLED_PROMPTS = 200
CHAT_OVERHEAD = 8  # role markers and separators per message, roughly


@dataclass
class StageEstimate:
    """The planned teacher work of one stage."""

    stage: str
    calls: int
    prompt_tokens: int
    completion_expected: int
    completion_max: int
    note: str = ""


@dataclass
class Estimate:
    """All stages, and what they cost."""

    stages: list[StageEstimate]
    tokenizer: str
    backend: str
    model: str
    usd_expected: float | None = None
    usd_max: float | None = None
    seconds_expected: float | None = None
    seconds_max: float | None = None
    #: Bytes of stored teacher log-probabilities (respond.logprobs): expected, at most.
    logprob_bytes: tuple[int, int] | None = None


def token_counter(ctx: Context) -> tuple[Callable[[str], int], str]:
    """A token counter for the configured teacher, and how it counts.

    Uses the local model's tokenizer when its folder exists (an embedded model
    only once it has been converted); never converts or downloads anything.
    """
    options = ctx.teacher_options()
    folder: Path | None = None
    if options.backend in ("local", "vllm"):
        from herdsman.embedded import EMBEDDED_MODELS, cache_dir

        model = options.model or next(iter(EMBEDDED_MODELS))
        if model in EMBEDDED_MODELS:
            candidate = cache_dir() / "models" / model
            folder = candidate if (candidate / "herdsman-source.json").is_file() else None
        else:
            folder = Path(model)
    if folder is not None and (folder / "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        return (lambda text: len(tokenizer.encode(text, add_special_tokens=False))), str(folder)
    return (lambda text: math.ceil(len(text) / 4)), "~4 characters per token"


def _mean(values: list[int], default: float) -> float:
    return sum(values) / len(values) if values else default


def estimate(ctx: Context, only: set[str] | None = None) -> Estimate:
    """Plan the teacher work of the configured pipeline without calling the teacher.

    Args:
        ctx: The run context (no teacher is built).
        only: Stage names that will run (``generate``, ``respond``, ``select``); others cost nothing.
    """
    count, how = token_counter(ctx)
    config = ctx.config
    seeds = load_configured_seeds(ctx)
    instr_tokens = [count(s.instruction) for s in seeds[:2000]]
    mean_instr = _mean(instr_tokens, 20.0)
    stages: list[StageEstimate] = []

    generated_total = 0
    for strategy, n in strategies(ctx).items():
        stages.append(_generation(ctx, strategy, n, seeds, count, mean_instr))
        generated_total += n

    originals = {f"seeds[{i}]" for i, s in enumerate(config.seeds) if s.originals}
    answered = [s for s in seeds if s.origin in originals]
    system = count(config.respond.system_prompt) + CHAT_OVERHEAD
    sample = answered[:SAMPLED_PROMPTS]
    per_original = _mean([count(s.instruction + "\n\n" + s.input) for s in sample], mean_instr)
    max_tokens = config.respond.sampling.max_tokens
    outputs = [count(s.output) for s in seeds[:SAMPLED_PROMPTS] if s.output.strip()]
    expected_answer = min(max_tokens, _mean(outputs, max_tokens / 2))
    calls = len(answered) + generated_total
    stages.append(
        StageEstimate(
            "respond",
            calls,
            round(
                len(answered) * (per_original + system) + generated_total * (mean_instr + system)
            ),
            round(calls * expected_answer),
            calls * max_tokens,
            f"{len(answered)} originals + {generated_total} generated"
            + (
                f"; top-{config.respond.logprobs} log-probabilities kept"
                if config.respond.logprobs
                else ""
            ),
        )
    )
    respond_stage = stages[-1]
    if config.select.enabled and "quality" in config.select.scores:
        stages.append(_select(ctx, calls, mean_instr, expected_answer, count))
    if only is not None:
        stages = [s for s in stages if s.stage.split(" ", 1)[0] in only]
    options = ctx.teacher_options()
    result = Estimate(stages, how, options.backend, options.model or "embedded default")
    if config.respond.logprobs and respond_stage in stages:
        per_token = bytes_per_token(config.respond.logprobs)
        result.logprob_bytes = (
            respond_stage.completion_expected * per_token,
            respond_stage.completion_max * per_token,
        )
    prompt = sum(s.prompt_tokens for s in stages)
    expected = sum(s.completion_expected for s in stages)
    ceiling = sum(s.completion_max for s in stages)
    if isinstance(options, OpenAIOptions):
        from herdsman.teachers.pricing import PriceTable

        prices = PriceTable.from_file(options.prices) if options.prices else PriceTable()
        result.usd_expected = prices.cost(options.model or "", prompt, expected)
        result.usd_max = prices.cost(options.model or "", prompt, ceiling)
        if options.batch_api and result.usd_expected is not None and result.usd_max is not None:
            from herdsman.teachers.openai_batch import BATCH_DISCOUNT

            result.usd_expected *= BATCH_DISCOUNT
            result.usd_max *= BATCH_DISCOUNT
    else:
        speed = config.teacher.tokens_per_second
        result.seconds_expected = expected / speed
        result.seconds_max = ceiling / speed
    return result


def _select(
    ctx: Context,
    answers: int,
    mean_instr: float,
    mean_answer: float,
    count: Callable[[str], int],
) -> StageEstimate:
    """The select stage's judge: one call per training pair (every answer kept, at most)."""
    from herdsman.evaluate.judge import JUDGE_SAMPLING
    from herdsman.evaluate.rubric import RUBRIC

    pairs = math.ceil(answers * (1 - ctx.config.dataset.held_out))
    prompt = count(RUBRIC) + mean_instr + mean_answer + CHAT_OVERHEAD + 12
    retries = ctx.config.select.judge_retries
    return StageEstimate(
        "select (judge)",
        pairs,
        round(pairs * prompt),
        pairs,  # a constrained choice is one token
        pairs * JUDGE_SAMPLING.max_tokens * (1 + retries),
        f"every training pair graded once (at most {answers} answers, "
        f"{1 - ctx.config.dataset.held_out:.0%} of them train); free text may ask again",
    )


def _generation(
    ctx: Context,
    strategy: str,
    n: int,
    seeds: list[Seed],
    count: Callable[[str], int],
    mean_instr: float,
) -> StageEstimate:
    from herdsman.generation.topics import load_topic_list
    from herdsman.pipeline.stages.generate import generate_settings

    gen = ctx.config.generate
    topics: list[str] = []
    if strategy == "topic":
        path = ctx.path("topics.txt")
        topics = load_topic_list(path) if path.is_file() else ["Topic one", "Topic two", "Three"]
    planner = configured_planner(ctx, strategy, seeds, topics)
    budget = generate_settings(gen, n, ctx.teacher_options()).call_budget()
    sample = [planner.plan(i) for i in range(min(SAMPLED_PROMPTS, budget))]
    per_call = _mean([c.per_call for c in sample], 20.0)
    calls = min(budget, math.ceil(n / (per_call * gen.expected_keep_rate)))
    prompt = _mean([count(c.prompt) + CHAT_OVERHEAD for c in sample], 0.0)
    # "<example>...</example>" wrapping costs about 6 tokens an item.
    expected = min(gen.sampling.max_tokens, per_call * (mean_instr + 6))
    note = f"{n} wanted, {per_call:g} asked per call, {gen.expected_keep_rate:.0%} kept assumed"
    if calls == budget:
        note += f"; capped by the call budget ({budget})"
    return StageEstimate(
        f"generate ({strategy})",
        calls,
        round(calls * prompt),
        round(calls * expected),
        calls * gen.sampling.max_tokens,
        note,
    )
