"""Response generation: the teacher answers every instruction once (sequence-level distillation).

Input is any format :mod:`herdsman.generation.instructions` reads (herdsman or
LaMini-style JSONL, Self-Instruct with ``instances``, Alpaca, P3, FLAN): an
instruction's input is never dropped. Output is one
LaMini record per instruction, in input order. Every call goes through the run
store, so re-running the same command after a crash skips what is done and
finishes the job; the output file is replaced atomically at the end, so it is
never half-written.

The input is read in passes (count and validate, ask, write) and answers are
paired with instructions by position, so the input's SHA-256 is checked
between passes: a file edited during a run stops it with a message instead of
attaching answers to the wrong instructions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from herdsman.config import DEFAULT_SYSTEM_PROMPT, RespondConfig, default_of
from herdsman.errors import InputError
from herdsman.generation.instructions import path_digest, read_instructions
from herdsman.io.jsonl import BadLines, write_jsonl_atomic
from herdsman.records import Instruction, SamplingParams, utc_now
from herdsman.store.calls import CallStats, execute
from herdsman.store.run_store import CallResult, RunStore, call_key
from herdsman.teachers.base import ChatRequest, Teacher

#: The paper's teacher was asked for concise answers; so is ours by default.
LOOKUP_CHUNK = 1000


@dataclass(frozen=True)
class RespondSettings:
    """How instructions are put to the teacher."""

    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    sampling: SamplingParams = field(default_factory=lambda: default_of(RespondConfig, "sampling"))
    default_source: str = default_of(RespondConfig, "source")
    drop_truncated: bool = False
    fmt: str = "auto"
    #: Top-k token log-probabilities to keep with every answer (``None``: none).
    logprobs: int | None = None


@dataclass
class RespondReport:
    """What ``respond`` did."""

    instructions: int
    written: int
    failed: int
    truncated: int
    dropped_truncated: int
    skipped_bad: int
    calls: CallStats
    failures_path: Path | None = None


def build_messages(instruction: Instruction, system_prompt: str) -> tuple[dict[str, str], ...]:
    """The chat messages for one instruction (system message only when set)."""
    user = {"role": "user", "content": instruction.prompt_text()}
    if system_prompt.strip():
        return ({"role": "system", "content": system_prompt}, user)
    return (user,)


def make_request(
    teacher: Teacher,
    instruction: Instruction,
    settings: RespondSettings,
    sampling: dict[str, Any] | None = None,
) -> ChatRequest:
    """The keyed request for one instruction (``sampling``: ``settings.sampling`` dumped once by the caller)."""
    messages = build_messages(instruction, settings.system_prompt)
    key = call_key(
        teacher.backend,
        teacher.model,
        messages,
        sampling or settings.sampling.model_dump(),
        {"logprobs": settings.logprobs} if settings.logprobs else None,
        endpoint=teacher.endpoint,
    )
    return ChatRequest(
        key=key, messages=messages, sampling=settings.sampling, logprobs=settings.logprobs
    )


def prompt_hash(messages: tuple[dict[str, str], ...]) -> str:
    """A short hash of the prompt alone (same prompt, any teacher or sampling)."""
    return hashlib.sha256(orjson.dumps(messages)).hexdigest()[:16]


def example_row(
    instruction: Instruction,
    messages: tuple[dict[str, str], ...],
    result: CallResult,
    sampling: dict[str, Any],
) -> dict[str, Any]:
    """The LaMini record (an :class:`Example` as a dict) for an answered instruction.

    Built as a plain dict: at millions of rows, pydantic round trips cost more
    than the rest of the output pass together.
    """
    carried = instruction.provenance
    row = {
        "instruction": instruction.prompt_text(),
        "response": result.text,
        "instruction_source": instruction.instruction_source,
        "id": instruction.id,
        "teacher": result.teacher,
        "model": result.model,
        "call_key": result.key,
        "prompt_hash": prompt_hash(messages),
        "sampling": sampling,
        "finish_reason": result.finish_reason,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "seed_ids": carried.seed_ids if carried else None,
        "topics": carried.topics if carried else None,
        "created_at": result.created_at or utc_now(),
    }
    return {k: v for k, v in row.items() if v is not None}


def _unchanged(path: Path, digest: str, when: str) -> None:
    if path_digest(path) != digest:
        raise InputError(
            str(path),
            None,
            f"the file changed {when}; answers are paired with instructions by position, so "
            "nothing was written: run the command again on the finished file",
        )


def respond(
    teacher: Teacher,
    store: RunStore,
    in_path: str | Path,
    out_path: str | Path,
    settings: RespondSettings | None = None,
    *,
    skip_bad: bool = False,
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[], None] | None = None,
) -> RespondReport:
    """Answer every instruction in ``in_path`` and write LaMini records to ``out_path``.

    The whole input is validated before the first call, so bad input costs
    nothing. Failed calls are left out of the output, listed in
    ``<out>.failed.jsonl`` and retried by the next run.

    Args:
        teacher: The teacher.
        store: The run store (makes the stage resumable).
        in_path: Input JSONL.
        out_path: Output JSONL (replaced atomically).
        settings: System prompt, sampling and source labels.
        skip_bad: Skip malformed input lines instead of failing.
        on_total: Told the number of instructions before calls start.
        on_progress: Called once per instruction handled.

    Returns:
        Counts of what was written, failed and truncated.
    """
    settings = settings or RespondSettings()
    in_path, out_path = Path(in_path), Path(out_path)
    if in_path.resolve() == out_path.resolve():
        raise InputError(str(out_path), None, "output would overwrite the input")
    bad = BadLines()
    digest = path_digest(in_path)
    total = sum(
        1 for _ in read_instructions(in_path, settings.fmt, settings.default_source, skip_bad, bad)
    )
    _unchanged(in_path, digest, "while it was being read")
    if on_total:
        on_total(total)

    sampling = settings.sampling.model_dump()
    sampling_shown = {k: v for k, v in sampling.items() if v is not None}
    # Keys in input order, 32 raw bytes each (80 MB for 2.5M instructions), so
    # the output pass need not rebuild every request.
    digests = bytearray()

    def requests() -> Iterator[ChatRequest]:
        for instruction in read_instructions(
            in_path, settings.fmt, settings.default_source, skip_bad, BadLines()
        ):
            request = make_request(teacher, instruction, settings, sampling)
            digests.extend(bytes.fromhex(request.key))
            yield request

    stats = execute(teacher, store, requests(), stage="respond", on_progress=on_progress)
    _unchanged(in_path, digest, "while its instructions were being answered")

    counts = {"written": 0, "failed": 0, "truncated": 0, "dropped": 0}
    failures: list[dict[str, Any]] = []

    def examples() -> Iterator[dict[str, Any]]:
        batch: list[tuple[Instruction, str]] = []
        instructions = read_instructions(
            in_path, settings.fmt, settings.default_source, skip_bad, BadLines()
        )
        for index, instruction in enumerate(instructions):
            batch.append((instruction, digests[index * 32 : index * 32 + 32].hex()))
            if len(batch) >= LOOKUP_CHUNK:
                yield from resolve(batch)
                batch = []
        yield from resolve(batch)
        # Before the output replaces the old one: the pairing by position still holds.
        _unchanged(in_path, digest, "while the output was being written")

    def resolve(batch: list[tuple[Instruction, str]]) -> Iterator[dict[str, Any]]:
        results = store.get_many([key for _, key in batch])
        for instruction, key in batch:
            result = results.get(key)
            if result is None or not result.ok or result.text is None:
                counts["failed"] += 1
                error = result.error if result else "not run"
                failures.append({"id": instruction.id, "call_key": key, "error": error})
                continue
            if result.finish_reason == "length":
                counts["truncated"] += 1
                if settings.drop_truncated:
                    counts["dropped"] += 1
                    continue
            counts["written"] += 1
            messages = build_messages(instruction, settings.system_prompt)
            yield example_row(instruction, messages, result, sampling_shown)

    write_jsonl_atomic(out_path, examples())
    failures_path = out_path.with_name(out_path.name + ".failed.jsonl")
    if failures:
        write_jsonl_atomic(failures_path, failures)
    else:
        failures_path.unlink(missing_ok=True)
    return RespondReport(
        instructions=total,
        written=counts["written"],
        failed=counts["failed"],
        truncated=counts["truncated"],
        dropped_truncated=counts["dropped"],
        skipped_bad=bad.count,
        calls=stats,
        failures_path=failures_path if failures else None,
    )
