"""The store-aware call loop: skip finished calls, run the rest, commit as they finish.

:func:`execute` is how every stage talks to a teacher. It streams requests,
drops those whose key already has an ``ok`` result (and repeats within the
run), hands the rest to the teacher, and commits each outcome to the
:class:`~herdsman.store.run_store.RunStore` as it arrives (a WAL commit without fsync
costs tens of microseconds, far below a teacher call), so a crash loses at
most the calls in flight. Backends that deliver thousands of results at once
can raise ``max_rows`` to commit them in one transaction.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from herdsman.store.run_store import CallResult, RunStore
from herdsman.teachers.base import ChatRequest, Completion, Teacher

LOOKUP_CHUNK = 1000


@dataclass
class CallStats:
    """What one :func:`execute` did."""

    cached: int = 0
    ok: int = 0
    failed: int = 0
    truncated: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    priced: bool = False

    def summary(self) -> str:
        """One line for the terminal."""
        parts = [f"{self.ok} answered", f"{self.cached} already done", f"{self.failed} failed"]
        if self.truncated:
            parts.append(f"{self.truncated} cut by max_tokens")
        parts.append(
            f"{self.prompt_tokens:,} prompt + {self.completion_tokens:,} completion tokens"
        )
        if self.priced:
            parts.append(f"${self.cost:.4f}")
        return ", ".join(parts)


class StoreSink:
    """Buffers outcomes and commits them in one transaction per batch or interval.

    Args:
        store: The run store.
        teacher: The teacher (for identity columns).
        stage: Stage name written with each call.
        stats: Counters to update.
        on_result: Called once per outcome after it is accepted (progress bars).
        max_rows: Commit when this many rows are buffered.
        max_delay_s: Commit when the oldest buffered row is this old.
    """

    def __init__(
        self,
        store: RunStore,
        teacher: Teacher,
        stage: str,
        stats: CallStats,
        on_result: Callable[[], None] | None = None,
        max_rows: int = 1,
        max_delay_s: float = 0.1,
    ) -> None:
        self.store, self.teacher, self.stage, self.stats = store, teacher, stage, stats
        self.on_result = on_result
        self.max_rows, self.max_delay_s = max_rows, max_delay_s
        self._buffer: list[CallResult] = []
        self._oldest = 0.0

    def put(self, request: ChatRequest, completion: Completion) -> None:
        """Accept one outcome; commit if the buffer is full or old."""
        if not self._buffer:
            self._oldest = time.monotonic()
        self._buffer.append(
            CallResult(
                key=request.key,
                stage=self.stage,
                teacher=self.teacher.backend,
                model=self.teacher.model,
                status="ok" if completion.ok else "error",
                text=completion.text,
                finish_reason=completion.finish_reason,
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
                cost=completion.cost,
                error=completion.error,
                attempts=completion.attempts,
                tokens=completion.tokens,
            )
        )
        s = self.stats
        if completion.ok:
            s.ok += 1
            s.truncated += completion.finish_reason == "length"
        else:
            s.failed += 1
        s.prompt_tokens += completion.prompt_tokens or 0
        s.completion_tokens += completion.completion_tokens or 0
        if completion.cost is not None:
            s.cost += completion.cost
            s.priced = True
        if (
            len(self._buffer) >= self.max_rows
            or time.monotonic() - self._oldest >= self.max_delay_s
        ):
            self.flush()
        if self.on_result:
            self.on_result()

    def flush(self) -> None:
        """Commit everything buffered."""
        if self._buffer:
            batch, self._buffer = self._buffer, []
            self.store.put_many(batch)


def pending(
    store: RunStore,
    requests: Iterable[ChatRequest],
    stats: CallStats,
    on_skip: Callable[[], None] | None,
) -> Iterator[ChatRequest]:
    """Yield the requests that still need a call: not ``ok`` in the store, not seen this run."""
    seen: set[str] = set()
    stream = iter(requests)
    while True:
        chunk = list(itertools.islice(stream, LOOKUP_CHUNK))
        if not chunk:
            return
        done = store.done_keys([r.key for r in chunk])
        for request in chunk:
            if request.key in done or request.key in seen:
                stats.cached += 1
                if on_skip:
                    on_skip()
                continue
            seen.add(request.key)
            yield request


def execute(
    teacher: Teacher,
    store: RunStore,
    requests: Iterable[ChatRequest],
    stage: str,
    on_progress: Callable[[], None] | None = None,
) -> CallStats:
    """Run every request that has no finished result yet, committing as results arrive.

    Args:
        teacher: The teacher to call.
        store: The run store.
        requests: Requests (consumed lazily).
        stage: Stage name recorded with each call.
        on_progress: Called once per request, whether answered, failed or skipped.

    Returns:
        Counts, tokens and cost of this execution.

    Raises:
        TeacherFatalError: The teacher cannot go on; everything finished so far is committed.
    """
    stats = CallStats()
    sink = StoreSink(store, teacher, stage, stats, on_result=on_progress)
    try:
        teacher.run(pending(store, requests, stats, on_progress), sink)
    finally:
        sink.flush()
    return stats
