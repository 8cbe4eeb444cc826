"""Teacher backend on vLLM's offline ``LLM`` engine: batch generation on GPUs.

Optional (``pip install herdsman[vllm]``); nothing else imports vLLM. Requests
are taken from the stream in windows of ``window`` prompts and handed to
``LLM.chat`` in one call with one ``SamplingParams`` per request, so vLLM's
continuous batching keeps the GPU full; each window's outcomes reach the sink
(and the run store) before the next window starts, so a crash loses at most
one window. The chat template is the model's own, as with the ``local``
backend, and the call key uses the same model name, so the two backends share
cached answers only when they name the model the same way.

For a vLLM *server*, use the ``openai`` backend with ``--base-url
http://HOST:8000/v1`` (see the README).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from herdsman.embedded import EMBEDDED_MODELS
from herdsman.errors import TeacherFatalError
from herdsman.io.logprobs import TeacherTokens
from herdsman.teachers.base import (
    CHOICE,
    ChatRequest,
    Completion,
    ResultSink,
    Teacher,
    choice_distribution,
    choice_mass,
)
from herdsman.teachers.identity import folder_identity
from herdsman.teachers.local import resolve_model_path
from herdsman.teachers.options import RayOptions, TeacherOptions, cli


def sampling_kwargs(request: ChatRequest) -> dict[str, Any]:
    """``vllm.SamplingParams`` keyword arguments for one request (greedy when temperature is 0)."""
    s = request.sampling
    kwargs: dict[str, Any] = {
        "temperature": s.temperature,
        "top_p": s.top_p if s.temperature > 0 else 1.0,
        "max_tokens": s.max_tokens,
    }
    if s.seed is not None:
        kwargs["seed"] = s.seed
    for name in ("repetition_penalty", "frequency_penalty", "presence_penalty"):
        value = getattr(s, name)
        if value is not None:
            kwargs[name] = value
    if request.choices:  # one token, and the engine's top log-probabilities for it
        kwargs.update(temperature=0.0, top_p=1.0, max_tokens=1, logprobs=CHOICE_LOGPROBS)
    elif request.logprobs:
        kwargs["logprobs"] = request.logprobs
    return kwargs


def tokens_from_output(first: Any, k: int) -> TeacherTokens | None:
    """The answer's token ids and each step's top-``k`` (vLLM returns the sampled token too,
    so a step may hold ``k + 1`` entries: the best ``k`` are kept)."""
    token_ids = list(getattr(first, "token_ids", None) or [])
    steps = getattr(first, "logprobs", None)
    if not token_ids or not steps or len(steps) != len(token_ids):
        return None
    top = [
        sorted(((int(i), float(e.logprob)) for i, e in step.items()), key=lambda p: -p[1])
        for step in steps
    ]
    return TeacherTokens.build(token_ids, top, k)


CHOICE_LOGPROBS = 20
#: vLLM's default ``max_logprobs``: the most top-k a request may ask for.
VLLM_MAX_LOGPROBS = 20


def choice_from_output(output: Any, choices: tuple[str, ...]) -> Completion | None:
    """The first token's probability of each choice (``None`` when no choice is among them)."""
    outs = getattr(output, "outputs", None) or []
    steps = getattr(outs[0], "logprobs", None) if outs else None
    if not steps:
        return None
    found = choice_mass(
        ((str(getattr(e, "decoded_token", "") or ""), float(e.logprob)) for e in steps[0].values()),
        choices,
    )
    if found is None:
        return None
    prompt_ids = getattr(output, "prompt_token_ids", None)
    return Completion(
        text=json.dumps(choice_distribution(found)),
        finish_reason=CHOICE,
        prompt_tokens=len(prompt_ids) if prompt_ids is not None else None,
        completion_tokens=1,
    )


def completion_from_output(output: Any, logprobs: int | None = None) -> Completion:
    """Map one ``vllm.RequestOutput`` onto a :class:`Completion`.

    Raises:
        TeacherFatalError: Log-probabilities were asked for and the engine returned none.
    """
    choices = getattr(output, "outputs", None) or []
    if not choices:
        return Completion(error="vLLM returned no output")
    first = choices[0]
    text = (getattr(first, "text", "") or "").strip()
    finish = getattr(first, "finish_reason", None)
    prompt_ids = getattr(output, "prompt_token_ids", None)
    token_ids = getattr(first, "token_ids", None)
    if not text:
        return Completion(error="empty answer", finish_reason=finish)
    tokens = None
    if logprobs:
        tokens = tokens_from_output(first, logprobs)
        if tokens is None:
            raise TeacherFatalError(
                "vLLM returned no log-probabilities for an answer that asked for them"
            )
    return Completion(
        text=text,
        finish_reason=str(finish) if finish is not None else None,
        prompt_tokens=len(prompt_ids) if prompt_ids is not None else None,
        completion_tokens=len(token_ids) if token_ids is not None else None,
        tokens=tokens,
    )


class VLLMTeacher(Teacher):
    """Offline batch generation with vLLM.

    Args:
        model: Local model folder, cached hub id, or an embedded alias.
        window: Requests handed to the engine per ``LLM.chat`` call.
        engine_args: Extra ``vllm.LLM`` arguments (``tensor_parallel_size``,
            ``gpu_memory_utilization``, ``max_model_len``, ``dtype``...).
    """

    backend = "vllm"

    def __init__(
        self, model: str | None, window: int = 4096, engine_args: dict[str, Any] | None = None
    ) -> None:
        self.path, self.model = resolve_model_path(model)
        self.endpoint = folder_identity(self.path)
        # vLLM gets a hub id as the id (it finds the cached snapshot itself), else the folder.
        hub_id = self.model not in EMBEDDED_MODELS and self.model != str(self.path)
        self.source = self.model if hub_id else str(self.path)
        self.window = max(1, window)
        self.engine_args = engine_args or {}
        self._llm: Any = None

    def load(self) -> None:
        """Start the engine (once)."""
        if self._llm is not None:
            return
        try:
            from vllm import LLM, SamplingParams  # noqa: F401 - both must be importable
        except ImportError:
            raise TeacherFatalError(
                "the vllm backend needs vLLM: pip install 'herdsman[vllm]' (a CUDA GPU)"
            ) from None
        try:
            self._llm = LLM(model=self.source, **self.engine_args)
        except (ValueError, RuntimeError) as exc:  # bad engine settings, not enough GPU memory
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise TeacherFatalError(f"vLLM could not start {self.path}: {first}") from None

    def close(self) -> None:
        """Drop the engine."""
        self._llm = None

    def generate(self, batch: list[ChatRequest]) -> list[Completion]:
        """Answer one window of requests in a single engine call."""
        self.load()  # a missing vLLM is an install message, not an ImportError below
        from vllm import SamplingParams

        params = [SamplingParams(**sampling_kwargs(r)) for r in batch]
        outputs = self._llm.chat([list(r.messages) for r in batch], params, use_tqdm=False)
        return [
            (choice_from_output(o, r.choices) if r.choices else None)
            or completion_from_output(o, r.logprobs)
            for r, o in zip(batch, outputs, strict=True)
        ]

    def run(self, requests: Iterable[ChatRequest], sink: ResultSink) -> None:
        """Answer requests window by window, flushing the sink after each."""
        stream = iter(requests)
        while True:
            window = list(itertools.islice(stream, self.window))
            if not window:
                return
            for request, completion in zip(window, self.generate(window), strict=True):
                sink.put(request, completion)
            sink.flush()


class VLLMEngineArgs(BaseModel):
    """The ``vllm.LLM`` engine settings herdsman passes through (``teacher.engine_args``).

    Unset fields keep vLLM's defaults. ``tensor_parallel_size`` spreads one
    model over that many GPUs (a 70B teacher); on Ray each actor then asks
    for that many GPUs. ``max_model_len`` caps the context so that a
    long-context model starts on a smaller card; ``gpu_memory_utilization``
    is the share of each GPU vLLM reserves (its default is 0.9).
    """

    model_config = ConfigDict(extra="forbid")

    tensor_parallel_size: int | None = Field(None, ge=1, le=64)
    pipeline_parallel_size: int | None = Field(None, ge=1, le=64)
    max_model_len: int | None = Field(None, ge=16)
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1)
    dtype: Literal["auto", "bfloat16", "float16", "float32"] | None = None
    enforce_eager: bool | None = None
    max_num_seqs: int | None = Field(None, ge=1)
    max_logprobs: int | None = Field(None, ge=1, description="vLLM's cap on top-k (default 20)")
    enable_prefix_caching: bool | None = None
    quantization: str | None = None
    seed: int | None = None

    def as_kwargs(self) -> dict[str, object]:
        """The set fields, as ``vllm.LLM`` keyword arguments."""
        return self.model_dump(exclude_none=True)

    def gpus(self) -> int:
        """GPUs one engine uses."""
        return (self.tensor_parallel_size or 1) * (self.pipeline_parallel_size or 1)


class VLLMOptions(RayOptions, TeacherOptions):
    """The ``vllm`` backend: vLLM's offline engine in this process (GPU; ``herdsman[vllm]``)."""

    backend: Literal["vllm"] = Field("vllm", json_schema_extra=cli(flag="--teacher"))
    window: int = Field(4096, ge=1, description="Requests per vLLM engine call (and per Ray task)")
    engine_args: VLLMEngineArgs = Field(
        default_factory=VLLMEngineArgs,
        description="vLLM engine setting KEY=VALUE (repeatable): tensor_parallel_size, "
        "max_model_len, gpu_memory_utilization, dtype, enforce_eager, ...",
        json_schema_extra=cli(flag="--engine-arg"),
    )

    def in_flight(self) -> int:
        """Requests per engine call, times the Ray workers."""
        return self.window * self.ray_width()

    def max_logprobs(self) -> int | None:
        """vLLM's cap on top-k log-probabilities (its ``max_logprobs``, 20 by default)."""
        return self.engine_args.max_logprobs or VLLM_MAX_LOGPROBS

    def identity(self) -> dict[str, str]:
        """Backend, model name and the folder's weights fingerprint."""
        path, name = resolve_model_path(self.model)
        return {"backend": "vllm", "model": name, "endpoint": folder_identity(path)}

    def build(self) -> Teacher:
        """A :class:`VLLMTeacher` (the engine starts on first use)."""
        return VLLMTeacher(self.model, window=self.window, engine_args=self.engine_args.as_kwargs())
