"""The teacher interface: small and batch-oriented.

A teacher answers a stream of :class:`ChatRequest` and reports each outcome to
a :class:`ResultSink` as soon as it is known; it never touches the run store.
The store-aware loop lives in :mod:`herdsman.store.calls`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from herdsman.io.logprobs import TeacherTokens
from herdsman.records import SamplingParams


@dataclass(frozen=True)
class ChatRequest:
    """One chat-completion request.

    Attributes:
        key: The run-store key (see :func:`herdsman.store.run_store.call_key`).
        messages: ``[{"role": ..., "content": ...}, ...]``.
        sampling: Sampling parameters.
        choices: For a constrained choice (the judge's grades): the answer is
            the teacher's probability of each choice as the first token of its
            reply, as JSON in :attr:`Completion.text` with ``finish_reason``
            :data:`CHOICE`. A backend that cannot tell (an API without
            ``logprobs``) answers in free text instead.
        logprobs: Also return the top-``logprobs`` token log-probabilities of every
            answer token and the answer's token ids (:attr:`Completion.tokens`).
            Part of the call's key: an answer and its log-probabilities come
            from one call.
    """

    key: str
    messages: tuple[dict[str, str], ...]
    sampling: SamplingParams
    choices: tuple[str, ...] | None = None
    logprobs: int | None = None

    def prompt_chars(self) -> int:
        """Characters in all messages (for token estimates)."""
        return sum(len(m["content"]) for m in self.messages)


#: ``finish_reason`` of a constrained-choice answer (its text is the JSON distribution).
CHOICE = "choice"


def choice_mass(
    candidates: Iterable[tuple[str, float]], choices: tuple[str, ...]
) -> dict[str, float] | None:
    """Each choice's probability from ``(token text, log-probability)`` of the first token.

    Token texts are compared without surrounding spaces and markup (``" A"``,
    ``"**B"``, ``"(C"``); ``None`` when no candidate is a choice.
    """
    found = dict.fromkeys(choices, 0.0)
    for token, logprob in candidates:
        name = token.strip().strip("*([").strip()
        if name in found:
            found[name] += math.exp(logprob)
    return found if any(found.values()) else None


def choice_distribution(probabilities: dict[str, float]) -> dict[str, float]:
    """Choice probabilities renormalised to sum to 1 (uniform when the model put no mass on them)."""
    total = sum(probabilities.values())
    if total <= 0:
        return dict.fromkeys(probabilities, 1 / len(probabilities))
    return {c: p / total for c, p in probabilities.items()}


@dataclass
class Completion:
    """The outcome of one request: an answer or a failure reason.

    Attributes:
        text: The answer, or ``None`` on failure.
        finish_reason: ``stop``, ``length`` (cut by ``max_tokens``) or the backend's word.
        prompt_tokens: Prompt tokens, when known.
        completion_tokens: Completion tokens, when known.
        error: Why the call failed; ``None`` means success.
        attempts: How many attempts this outcome took.
    """

    text: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None
    attempts: int = 1
    cost: float | None = field(default=None)
    #: The answer's token ids and top-k log-probabilities, when the request asked for them.
    tokens: TeacherTokens | None = None

    @property
    def ok(self) -> bool:
        """Whether the call produced an answer."""
        return self.error is None


class ResultSink(Protocol):
    """Receives outcomes from a teacher, possibly from an event loop thread."""

    def put(self, request: ChatRequest, completion: Completion) -> None:
        """Accept one outcome."""

    def flush(self) -> None:
        """Make everything accepted so far durable."""


class Teacher(ABC):
    """A model that answers chat requests.

    Subclasses set :attr:`backend`, :attr:`model` and :attr:`endpoint`
    (together they identify the teacher in call keys: see
    :mod:`herdsman.teachers.identity`) and implement :meth:`run`.
    """

    backend: str = ""
    model: str = ""
    #: Where answers come from: a normalised base URL, or a model folder and its weights' hash.
    endpoint: str = ""

    @abstractmethod
    def run(self, requests: Iterable[ChatRequest], sink: ResultSink) -> None:
        """Answer every request, reporting each outcome to ``sink``.

        Requests are consumed lazily, so a caller can stream millions of them.
        A per-call failure is reported as a :class:`Completion` with ``error``;
        a failure of the teacher as a whole (bad credentials, missing model)
        raises :class:`herdsman.errors.TeacherFatalError`.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (model weights, HTTP sessions)."""
