"""``herdsman run --dry-run``: teacher calls, tokens, money and time per stage, before any call.

Nothing here builds a teacher or opens a connection. Prompts are the real
ones (the planner renders them exactly as the run will); token counts come
from the teacher's tokenizer when it is on disk, otherwise from 4 characters
per token (marked as such). Completion tokens are given twice: an expected
figure (generation: the asked-for items at the seeds' mean length; answers:
the seeds' mean reference-output length) and the ceiling ``calls x max_tokens``.

The judge's calls are counted as the judge stage makes them (:func:`judge_calls`):
every answer on the answer sheet graded once (the students', their bases' and
the teacher's reference), the controls, and the pairs when ``pairwise``; from
the answer sheet when it exists and will not be rewritten, else from the config.

Time: local and vLLM teachers at ``teacher.tokens_per_second``; an
OpenAI-compatible server (a vLLM server, say) only when that is set in the
config, since a default speed would be a guess about someone else's server.
Answers through the Batch API (``batch_api``: the respond stage's calls only;
generate, select and judge keep the live endpoint) come within its window, not
at a speed, and only they are priced at its discount.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from herdsman.config import JudgeConfig
from herdsman.io.logprobs import bytes_per_token
from herdsman.pipeline.context import DATASET, Context, eval_path
from herdsman.pipeline.run_files import configured_planner, evaluation_enabled, strategies
from herdsman.pipeline.stages.seeds import load_configured_seeds
from herdsman.records import Seed
from herdsman.teachers.openai_http import OpenAIOptions

if TYPE_CHECKING:
    from herdsman.teachers.pricing import PriceTable

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
    #: The teacher's generated tokens per second the time is estimated at (``None``: no time).
    tokens_per_second: float | None = None
    #: What the time leaves out (the Batch API's answers), in words.
    time_note: str = ""

    @property
    def calls(self) -> int:
        """Teacher calls of every stage."""
        return sum(s.calls for s in self.stages)

    @property
    def prompt_tokens(self) -> int:
        """Prompt tokens of every stage."""
        return sum(s.prompt_tokens for s in self.stages)

    @property
    def completion_expected(self) -> int:
        """Expected completion tokens of every stage."""
        return sum(s.completion_expected for s in self.stages)

    @property
    def completion_max(self) -> int:
        """At most this many completion tokens, over every stage."""
        return sum(s.completion_max for s in self.stages)


def token_counter(ctx: Context) -> tuple[Callable[[str], int], str]:
    """A token counter for the configured teacher, and how it counts.

    Uses the local model's tokenizer when it is on disk: a folder, a hub id's
    snapshot in the local Hugging Face cache (:func:`herdsman.io.model_refs.cached_snapshot`),
    or an embedded model once it has been converted. Never converts or downloads anything.
    """
    options = ctx.teacher_options()
    folder: Path | None = None
    name = ""
    if options.backend in ("local", "vllm"):
        from herdsman.embedded import EMBEDDED_MODELS, cache_dir

        model = options.model or next(iter(EMBEDDED_MODELS))
        if model in EMBEDDED_MODELS:
            candidate = cache_dir() / "models" / model
            folder = candidate if (candidate / "herdsman-source.json").is_file() else None
        elif Path(model).is_dir():
            folder = Path(model)
        else:  # a hub id (the context keeps ids as they are): its cached snapshot, if any
            from herdsman.io.model_refs import cached_snapshot, is_hub_id

            folder = cached_snapshot(model) if is_hub_id(model) else None
            name = f"{model} (cached)"
    if folder is not None and (folder / "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        return (lambda text: len(tokenizer.encode(text, add_special_tokens=False))), name or str(
            folder
        )
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
    judging = only is None or "judge" in only
    if judging and evaluation_enabled(ctx) and config.evaluation.judge.enabled:
        stages.append(_judge(ctx, calls, mean_instr, expected_answer, count, only))
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
    if isinstance(options, OpenAIOptions):
        from herdsman.teachers.pricing import PriceTable

        prices = PriceTable.from_file(options.prices) if options.prices else PriceTable()
        # Only respond goes through the Batch API: its calls alone are billed at the discount.
        discounted = respond_stage if options.batch_api else None
        model = options.model or ""
        result.usd_expected = _usd(stages, prices, model, discounted, ceiling=False)
        result.usd_max = _usd(stages, prices, model, discounted, ceiling=True)
    timed = stages
    if isinstance(options, OpenAIOptions):
        if "tokens_per_second" not in options.model_fields_set:
            return result  # a remote server's speed is not ours to guess
        if options.batch_api and respond_stage in stages:
            timed = [s for s in stages if s is not respond_stage]
            result.time_note = "respond's answers come through the Batch API, within 24 h"
    speed = options.tokens_per_second
    result.tokens_per_second = speed
    result.seconds_expected = sum(s.completion_expected for s in timed) / speed
    result.seconds_max = sum(s.completion_max for s in timed) / speed
    return result


def _usd(
    stages: list[StageEstimate],
    prices: PriceTable,
    model: str,
    discounted: StageEstimate | None,
    *,
    ceiling: bool,
) -> float | None:
    """USD for the stages (expected or ceiling completions); ``None`` when the model has no price.

    ``discounted`` (respond, with ``batch_api``) is billed at the Batch API's discount.
    """
    from herdsman.teachers.openai_batch import BATCH_DISCOUNT

    total = prices.cost(model, 0, 0)
    for stage in stages:
        completion = stage.completion_max if ceiling else stage.completion_expected
        cost = prices.cost(model, stage.prompt_tokens, completion)
        if cost is None or total is None:
            return None
        total += cost * (BATCH_DISCOUNT if stage is discounted else 1.0)
    return total


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


def judge_calls(
    answers: list[int], compared: list[int], references: int, cfg: JudgeConfig
) -> dict[str, int]:
    """The calls the judge stage makes, by kind, first attempts only.

    Args:
        answers: Per item of the answer sheet, the answers on it (every model's,
            the teacher's reference included): each is graded once.
        compared: Per item, the models pairwise mode compares (all but the reference).
        references: Items with a non-empty reference answer of the teacher.
        cfg: The judge's settings (``controls``, ``pairwise``).

    Returns:
        ``grades``, ``controls`` and ``pairs`` calls. Each of the first
        ``cfg.controls`` items with a reference (none below two) is graded in
        the five control versions, of which the reference itself is the
        teacher's answer already graded (the same prompt: a stored call), so
        four are new; pairwise mode asks both orders of every pair.
    """
    from herdsman.evaluate.judge_controls import KINDS

    chosen = min(cfg.controls, references)
    controls = chosen * (len(KINDS) - 1) if chosen >= 2 else 0
    pairs = sum(m * (m - 1) for m in compared) if cfg.pairwise else 0
    return {"grades": sum(answers), "controls": controls, "pairs": pairs}


def _sheet_shape(
    ctx: Context, count: Callable[[str], int]
) -> tuple[list[int], int, list[int], float, float]:
    """The existing answer sheet: answers per item, references, models to compare per item,
    mean instruction and answer tokens."""
    from herdsman.evaluate.answer_sheets import read_answer_sheet
    from herdsman.evaluate.evaluator import ANSWER_SHEET, TEACHER

    sheet = read_answer_sheet([eval_path(ctx, ANSWER_SHEET)])
    answers = [sheet.answers[i.id] for i in sheet.items]
    references = sum(1 for a in answers if a.get(TEACHER, "").strip())
    # Controls use the items in sheet order, so only the count of references matters.
    compare = [len([m for m in a if m != TEACHER]) for a in answers]
    texts = [t for a in answers[:SAMPLED_PROMPTS] for t in a.values()]
    mean_instr = _mean([count(i.prompt()) for i in sheet.items[:SAMPLED_PROMPTS]], 20.0)
    return (
        [len(a) for a in answers],
        references,
        compare,
        mean_instr,
        _mean([count(t) for t in texts], 0.0),
    )


def _judge_items(ctx: Context, answered: int, only: set[str] | None) -> tuple[int, bool]:
    """Items the evaluate stage will put on the answer sheet, and whether they have references."""
    from herdsman.dataset.build import held_out_count
    from herdsman.evaluate.evaluator import read_instruction_items

    cfg = ctx.config.evaluation.judge
    if cfg.instructions:
        return len(
            read_instruction_items(ctx.loaded.resolve(cfg.instructions), cfg.max_items)
        ), False
    held_out = ctx.path(DATASET) / "held_out.jsonl"
    if held_out.is_file() and (only is None or "dataset" not in only):
        with held_out.open("rb") as handle:
            rows = sum(1 for line in handle if line.strip())
    else:  # every answer kept, at most
        rows = held_out_count(answered, ctx.config.dataset.held_out)
    return (min(rows, cfg.max_items) if cfg.max_items else rows), True


def _graded_models(ctx: Context) -> int:
    """The students, and each distinct base once (as the evaluate stage collects them)."""
    students = ctx.config.students
    if not ctx.config.evaluation.bases:
        return len(students)
    bases = {
        (s.name,) if s.init == "prune" else (s.base, s.wrapper) for s in students
    }  # a pruned student's base is its own cut of the teacher
    return len(students) + len(bases)


def _judge(
    ctx: Context,
    answered: int,
    mean_instr: float,
    mean_answer: float,
    count: Callable[[str], int],
    only: set[str] | None,
) -> StageEstimate:
    """The judge stage: every answer on the sheet graded, the controls, the pairs when asked."""
    from herdsman.evaluate.evaluator import ANSWER_SHEET
    from herdsman.evaluate.judge import JUDGE_SAMPLING, PAIR_PROMPT, grade_prompt

    cfg = ctx.config.evaluation.judge
    sheet = eval_path(ctx, ANSWER_SHEET)
    if sheet.is_file() and (only is None or "evaluate" not in only):
        answers, references, compare, mean_instr, mean_answer = _sheet_shape(ctx, count)
        where = "the answer sheet"
    else:
        items, guided = _judge_items(ctx, answered, only)
        models = _graded_models(ctx)
        references = items if guided else 0
        answers = [models + (1 if guided else 0)] * items
        compare = [models] * items
        where = f"{items} items x {models} models" + (
            " + the teacher's reference" if guided else ""
        )
        mean_answer = min(float(ctx.config.evaluation.max_new_tokens), mean_answer)
    calls = judge_calls(answers, compare, references, cfg)
    template = count(grade_prompt("", "", "" if cfg.reference_guided and references else None))
    grade = template + mean_instr + mean_answer * (2 if cfg.reference_guided and references else 1)
    pair = (
        count(PAIR_PROMPT.format(instruction="", first="", second=""))
        + mean_instr
        + 2 * mean_answer
    )
    total = sum(calls.values())
    prompt = (calls["grades"] + calls["controls"]) * (grade + CHAT_OVERHEAD) + calls["pairs"] * (
        pair + CHAT_OVERHEAD
    )
    note = f"{where}: {calls['grades']} grades, {calls['controls']} control grades"
    if cfg.pairwise:
        note += f", {calls['pairs']} pairwise verdicts"
    if not calls["controls"]:
        note += " (no controls: fewer than two references)"
    if cfg.retries:
        note += f"; free text may ask again ({cfg.retries} more each, at most)"
    return StageEstimate(
        "judge",
        total,
        round(prompt),
        total if cfg.constrained else total * JUDGE_SAMPLING.max_tokens,
        total * JUDGE_SAMPLING.max_tokens * (1 + cfg.retries),
        note,
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
