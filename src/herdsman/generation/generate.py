"""Instruction generation: example-guided and topic-guided, filtered and deduplicated.

Calls are planned by index (:class:`~herdsman.generation.prompts.Planner`: call *i* always
has the same prompt), made in waves through the run store, and their replies
parsed, filtered and deduplicated in call order until ``n`` new instructions
are kept. Re-running the same command replays finished calls from the store,
so it reaches the same instructions in the same order and only pays for what
is missing. New instructions are also deduplicated against the seeds.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from herdsman.config import GenerateConfig, default_of
from herdsman.generation.dedup import (
    THRESHOLD,
    Deduplicator,
    occurrence_frequencies,
    rouge_tokens,
)
from herdsman.generation.dedup_online import OnlineLshDeduplicator
from herdsman.generation.filters import FilterConfig, QualityFilter
from herdsman.generation.parse import parse_instructions
from herdsman.generation.prompts import PlannedCall, Planner
from herdsman.io.atomic import atomic_output
from herdsman.io.jsonl import dumps_line
from herdsman.records import SamplingParams, utc_now
from herdsman.store.calls import execute
from herdsman.store.run_store import CallResult, RunStore, call_key
from herdsman.teachers.base import ChatRequest, Teacher


@dataclass(frozen=True)
class GenerateSettings:
    """How many instructions to keep and how to ask for them."""

    n: int
    sampling: SamplingParams = field(default_factory=lambda: default_of(GenerateConfig, "sampling"))
    wave: int = 16
    max_calls: int | None = None
    threshold: float = THRESHOLD
    #: ``exact``, ``lsh`` or ``auto`` (lsh beyond :data:`AUTO_EXACT_MAX` instructions to keep).
    dedup_method: str = "auto"
    filters: FilterConfig = field(default_factory=FilterConfig)

    def call_budget(self) -> int:
        """Calls allowed before giving up (default: enough for 3 parsed items per call on average)."""
        return self.max_calls or max(self.wave, 3 * math.ceil(self.n / 10) + self.wave)


@dataclass
class GenerateReport:
    """What a generation run did."""

    kept: int = 0
    calls: int = 0
    calls_made: int = 0
    calls_cached: int = 0
    calls_failed: int = 0
    calls_empty: int = 0
    calls_truncated: int = 0
    parsed: int = 0
    filtered: Counter[str] = field(default_factory=Counter)
    exact_duplicates: int = 0
    near_duplicates: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    reached: bool = False

    def lines(self) -> list[str]:
        """A human summary."""
        filt = ", ".join(f"{k} {v}" for k, v in sorted(self.filtered.items())) or "none"
        return [
            f"calls: {self.calls} ({self.calls_made} made, {self.calls_cached} already done, "
            f"{self.calls_failed} failed, {self.calls_empty} yielded nothing parseable, "
            f"{self.calls_truncated} cut by max_tokens)",
            f"instructions: {self.parsed} parsed -> filters removed {sum(self.filtered.values())} ({filt}) "
            f"-> duplicates removed {self.exact_duplicates} exact + {self.near_duplicates} near -> {self.kept} kept",
        ]


def _request(
    teacher: Teacher, planner: Planner, call: PlannedCall, sampling: SamplingParams
) -> ChatRequest:
    messages = ({"role": "user", "content": call.prompt},)
    extra = {
        "stage": "generate",
        "strategy": planner.strategy,
        "index": call.index,
        "template": planner.template.version,
    }
    key = call_key(
        teacher.backend,
        teacher.model,
        messages,
        sampling.model_dump(),
        extra=extra,
        endpoint=teacher.endpoint,
    )
    return ChatRequest(key=key, messages=messages, sampling=sampling)


def _row(
    call: PlannedCall, item: int, text: str, result: CallResult, planner: Planner
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": f"gen-{planner.strategy}:{call.index}:{item}",
        "instruction": text,
        "input": "",
        "instruction_source": call.source,
        "strategy": planner.strategy,
        "seed_ids": [s.id for s in call.seeds],
        "subset": call.subset or None,
        "topics": list(call.topics) or None,
        "teacher": result.teacher,
        "model": result.model,
        "template_version": planner.template.version,
        "call_key": result.key,
        "created_at": result.created_at or utc_now(),
    }
    return {k: v for k, v in row.items() if v is not None}


#: ``auto`` checks exactly up to this many instructions to keep, with LSH beyond.
AUTO_EXACT_MAX = 50_000


def near_duplicate_check(
    settings: GenerateSettings, seed_texts: Sequence[str]
) -> Deduplicator | OnlineLshDeduplicator:
    """The online near-duplicate check of a run, the seeds already in it.

    ``exact`` gives the pairwise rule's decisions and grows with the square of
    what it keeps on template-heavy text; ``lsh`` grows linearly at the cost of
    a measured sliver of recall (see :mod:`herdsman.generation.dedup_online`).

    Raises:
        ValueError: An unknown method.
    """
    method = settings.dedup_method
    if method == "auto":
        method = "exact" if settings.n <= AUTO_EXACT_MAX else "lsh"
    if method == "lsh":
        online = OnlineLshDeduplicator(settings.threshold)
        for start in range(0, len(seed_texts), 1000):
            chunk = seed_texts[start : start + 1000]
            online.check_many([-1 - start - i for i in range(len(chunk))], chunk, count=False)
        return online
    if method != "exact":
        raise ValueError(f"unknown dedup method '{method}' (auto, exact or lsh)")
    dedup = Deduplicator(
        settings.threshold, occurrence_frequencies(rouge_tokens(t) for t in seed_texts)
    )
    for i, text in enumerate(seed_texts):
        dedup.remember(-1 - i, text)
    return dedup


def generate(
    teacher: Teacher,
    store: RunStore,
    planner: Planner,
    settings: GenerateSettings,
    out_path: str | Path,
    on_progress: Callable[[int], None] | None = None,
) -> GenerateReport:
    """Generate until ``settings.n`` new instructions are kept; write them to ``out_path``.

    Args:
        teacher: The teacher.
        store: Run store (makes the stage resumable).
        planner: Plans each call's prompt.
        settings: Target count, sampling, filters, dedup threshold, wave size.
        out_path: Output JSONL (replaced atomically).
        on_progress: Told the number kept so far after each wave.

    Returns:
        Counts of calls, parsing, filtering and deduplication.
    """
    report = GenerateReport()
    quality = QualityFilter(settings.filters)
    seeds = [s for _, group in planner.groups for s in group]
    seed_texts = [s.instruction for s in seeds]
    dedup = near_duplicate_check(settings, seed_texts)
    kept = 0  # written as they are kept (the file appears, complete, at the end)
    budget = settings.call_budget()
    index = 0
    with atomic_output(out_path) as sink:
        while kept < settings.n and index < budget:
            calls = [planner.plan(i) for i in range(index, min(index + settings.wave, budget))]
            requests = [_request(teacher, planner, c, settings.sampling) for c in calls]
            stats = execute(teacher, store, requests, stage="generate")
            report.calls_made += stats.ok + stats.failed
            report.calls_cached += stats.cached
            results = store.get_many([r.key for r in requests])
            for call, request in zip(calls, requests, strict=True):
                if kept >= settings.n:
                    break
                report.calls += 1
                result = results.get(request.key)
                if result is None or not result.ok or result.text is None:
                    report.calls_failed += 1
                    continue
                report.prompt_tokens += result.prompt_tokens or 0
                report.completion_tokens += result.completion_tokens or 0
                report.cost += result.cost or 0.0
                truncated = result.finish_reason == "length"
                report.calls_truncated += truncated
                items = parse_instructions(result.text, truncated=truncated)
                report.parsed += len(items)
                if not items:
                    report.calls_empty += 1
                passed = [(item, text) for item, text in enumerate(items) if quality.keep(text)]
                decisions = dedup.check_many(
                    [kept + k for k in range(len(passed))],
                    [text for _, text in passed],
                    limit=settings.n - kept,
                )
                for (item, text), decision in zip(passed, decisions, strict=True):
                    if not decision.kept:
                        continue
                    sink.write(dumps_line(_row(call, item, text, result, planner)))
                    kept += 1
                    if kept >= settings.n:
                        break
            index += len(calls)
            if on_progress:
                on_progress(kept)
            if index >= 2 * settings.wave and not kept and report.calls_failed < report.calls:
                break  # two waves of replies and nothing usable: the teacher cannot do this
    report.filtered = quality.removed
    report.exact_duplicates = dedup.stats.exact
    report.near_duplicates = dedup.stats.near
    report.kept = kept
    report.reached = kept >= settings.n
    return report
