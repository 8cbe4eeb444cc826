"""Teacher backend running a transformers model in-process (CPU or GPU), batched.

Batching is what makes a local teacher usable: one left-padded batch gives
several times the tokens/s of one prompt at a time
(``benchmarks/bench_local_batching.py``; figures in docs/benchmarks.md). Prompts are taken from the stream in
windows, sorted by length inside a window (less padding), grouped by
sampling parameters, and generated a batch at a time; each batch's outcomes
are handed to the sink and flushed before the next batch starts.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from herdsman.embedded import EMBEDDED_MODELS, converted_folder
from herdsman.errors import HerdsmanError, TeacherFatalError, is_out_of_memory
from herdsman.io.logprobs import TeacherTokens
from herdsman.io.model_refs import IN_WORKING_DIR, resolve_model_ref
from herdsman.records import SamplingParams
from herdsman.teachers.base import (
    CHOICE,
    ChatRequest,
    Completion,
    ResultSink,
    Teacher,
    choice_distribution,
)
from herdsman.teachers.identity import folder_identity
from herdsman.teachers.options import RayOptions, TeacherOptions, cli

WINDOW_BATCHES = 8  # prompts sorted by length within batch_size * WINDOW_BATCHES


def resolve_model_path(model: str | None) -> tuple[Path, str]:
    """Resolve a ``--model`` value to a local folder and a stable name for call keys.

    Args:
        model: ``None`` or an embedded alias (default teacher), else a model
            reference (:mod:`herdsman.io.model_refs`): a Hugging Face model folder
            (relative to the working directory; a pipeline gives absolute ones), or
            a hub id from the local Hugging Face cache, downloaded there only with
            ``hub: online``.

    Returns:
        The folder, and the hub id (for a hub id) or the resolved folder (for a folder).

    Raises:
        TeacherFatalError: Not a folder, not cached (hub offline), not downloadable,
            or not a model folder.
    """
    if model is None or model in EMBEDDED_MODELS:
        alias = model or next(iter(EMBEDDED_MODELS))
        return converted_folder(alias), alias
    try:
        ref = resolve_model_ref(model, Path.cwd(), where=IN_WORKING_DIR)
    except HerdsmanError as exc:
        raise TeacherFatalError(f"teacher model {exc}") from None
    assert ref.path is not None  # downloaded when not cached
    if not (ref.path / "config.json").is_file():
        raise TeacherFatalError(f"{model}: not a Hugging Face model folder (no config.json)")
    return ref.path, ref.name


def teacher_dtype(on_gpu: bool, bf16_supported: bool) -> Any:
    """bf16 on GPUs that support it, fp16 on older ones (T4, V100), fp32 on CPU."""
    import torch

    if not on_gpu:
        return torch.float32
    return torch.bfloat16 if bf16_supported else torch.float16


class LocalTeacher(Teacher):
    """A causal LM from a local folder, generating in left-padded batches.

    Args:
        model: Embedded alias or local model folder (see :func:`resolve_model_path`).
        batch_size: Prompts per ``generate`` call.
        device: ``cpu``, ``cuda``, ... or ``None`` for the best available.
    """

    backend = "local"

    def __init__(
        self, model: str | None = None, batch_size: int = 16, device: str | None = None
    ) -> None:
        self.path, self.model = resolve_model_path(model)
        self.endpoint = folder_identity(self.path)
        self.batch_size = max(1, batch_size)
        self._device = device
        self._lm: Any = None
        self._tokenizer: Any = None

    def load(self) -> None:
        """Load weights and tokenizer (done lazily on first use)."""
        if self._lm is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = self._device or ("cuda" if torch.cuda.is_available() else "cpu")
        on_gpu = device.startswith("cuda")
        dtype = teacher_dtype(on_gpu, on_gpu and torch.cuda.is_bf16_supported())
        # On a GPU, device_map places the weights as they load (spread over every
        # visible GPU when one is not enough) instead of loading to CPU first.
        placement: dict[str, Any] = (
            {"device_map": "auto" if device == "cuda" else device} if on_gpu else {}
        )
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
            lm: Any = AutoModelForCausalLM.from_pretrained(
                self.path, dtype=dtype, local_files_only=True, **placement
            )
        except (OSError, ValueError) as exc:
            raise TeacherFatalError(f"{self.path}: cannot load model ({exc})") from None
        except (RuntimeError, MemoryError) as exc:
            if not is_out_of_memory(exc):
                raise
            raise TeacherFatalError(
                f"{self.path}: out of memory loading the teacher on {device}; use a machine with "
                "more GPU memory, the vllm backend (tensor_parallel_size), or an OpenAI-compatible "
                "server"
            ) from None
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._tokenizer = tokenizer
        self._lm = (lm if placement else lm.to(device)).eval()
        self._device = str(getattr(self._lm, "device", device))

    def close(self) -> None:
        """Drop the model."""
        self._lm = None
        self._tokenizer = None

    def render(self, request: ChatRequest) -> str:
        """Apply the model's chat template (or a plain fallback) to a request."""
        tok = self._tokenizer
        if getattr(tok, "chat_template", None):
            text: str = tok.apply_chat_template(
                list(request.messages), add_generation_prompt=True, tokenize=False
            )
            return text
        parts = [m["content"] for m in request.messages]
        return "\n\n".join(parts) + "\n\n"

    def run(self, requests: Iterable[ChatRequest], sink: ResultSink) -> None:
        """Answer requests batch by batch, flushing the sink after each batch."""
        self.load()
        stream = iter(requests)
        while True:
            window = list(itertools.islice(stream, self.batch_size * WINDOW_BATCHES))
            if not window:
                return
            for batch in self._batches(window):
                answer = self.choose if batch[0].choices else self.generate
                for request, completion in zip(batch, answer(batch), strict=True):
                    sink.put(request, completion)
                sink.flush()

    def _batches(self, window: list[ChatRequest]) -> Iterator[list[ChatRequest]]:
        rendered = {id(r): self.render(r) for r in window}
        lengths = {id(r): len(self._tokenizer(rendered[id(r)]).input_ids) for r in window}
        by_sampling: dict[
            tuple[SamplingParams, tuple[str, ...] | None, int | None], list[ChatRequest]
        ] = {}
        for request in window:
            same = (request.sampling, request.choices, request.logprobs)
            by_sampling.setdefault(same, []).append(request)
        for group in by_sampling.values():
            group.sort(key=lambda r: lengths[id(r)])
            for start in range(0, len(group), self.batch_size):
                yield group[start : start + self.batch_size]

    def generate(self, batch: list[ChatRequest]) -> list[Completion]:
        """Generate answers for requests that share sampling parameters."""
        import torch

        self.load()
        tok, lm = self._tokenizer, self._lm
        sampling = batch[0].sampling
        texts = [self.render(r) for r in batch]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(
            self._device
        )
        eos_ids = _eos_ids(lm, tok)
        kwargs: dict[str, Any] = {
            "max_new_tokens": sampling.max_tokens,
            "pad_token_id": tok.pad_token_id,
            "eos_token_id": eos_ids,
        }
        if sampling.temperature > 0:
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p)
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if sampling.repetition_penalty is not None:
            kwargs["repetition_penalty"] = sampling.repetition_penalty
        recorder = None
        if batch[0].logprobs:
            recorder = TopKRecorder(batch[0].logprobs)
            kwargs.update(recorder.generate_kwargs(sampling))
        try:
            with torch.inference_mode():
                out = lm.generate(**enc, **kwargs)
        except torch.cuda.OutOfMemoryError:
            raise TeacherFatalError(
                f"out of GPU memory with batch size {len(batch)}: lower --batch-size"
            ) from None
        prompt_len = enc.input_ids.shape[1]
        prompt_counts = enc.attention_mask.sum(dim=1).tolist()
        results = []
        rows = out[:, prompt_len:].tolist()
        for r, (row, n_prompt) in enumerate(zip(rows, prompt_counts, strict=True)):
            cut = next((i for i, t in enumerate(row) if t in eos_ids), None)
            tokens = row if cut is None else row[:cut]
            finish = (
                "stop"
                if cut is not None
                else ("length" if len(row) >= sampling.max_tokens else "stop")
            )
            text = tok.decode(tokens, skip_special_tokens=True).strip()
            if not text:
                results.append(Completion(error="empty answer", finish_reason=finish))
                continue
            kept = row if cut is None else row[: cut + 1]  # the end-of-sequence token too
            results.append(
                Completion(
                    text=text,
                    finish_reason=finish,
                    prompt_tokens=int(n_prompt),
                    completion_tokens=len(tokens),
                    tokens=None if recorder is None else recorder.answer(r, kept),
                )
            )
        return results

    def choose(self, batch: list[ChatRequest]) -> list[Completion]:
        """The probability of each choice as the first token of the reply (one forward pass)."""
        import torch

        self.load()
        tok, lm = self._tokenizer, self._lm
        choices = batch[0].choices or ()
        ids = {c: sorted(_choice_tokens(tok, c)) for c in choices}
        texts = [self.render(r) for r in batch]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(
            self._device
        )
        try:
            with torch.inference_mode():
                # Left padding: the last position predicts the reply's first token, and
                # only its logits are computed (not the prompt length times the vocabulary).
                logits = lm(**enc, logits_to_keep=1).logits[:, -1, :].float()
        except torch.cuda.OutOfMemoryError:
            raise TeacherFatalError(
                f"out of GPU memory with batch size {len(batch)}: lower --batch-size"
            ) from None
        probs = torch.softmax(logits, dim=-1)
        counts = enc.attention_mask.sum(dim=1).tolist()
        results = []
        for row, n_prompt in zip(probs, counts, strict=True):
            raw = {c: float(row[ids[c]].sum()) for c in choices}
            results.append(
                Completion(
                    text=json.dumps(choice_distribution(raw)),
                    finish_reason=CHOICE,
                    prompt_tokens=int(n_prompt),
                    completion_tokens=1,
                )
            )
        return results


class TopKRecorder:
    """Keeps the top-k log-probabilities of every generated token, from the model's own logits.

    It runs as the first logits processor of ``generate`` (:meth:`generate_kwargs`
    moves repetition penalty, temperature and top-p behind it), so what it keeps
    is the model's next-token distribution before any of them: the teacher's
    distribution, which a distilled student imitates. Only ``k`` values per
    token are kept (not the vocabulary), so long answers in large batches fit.
    """

    def __init__(self, k: int) -> None:
        self.k = k
        self.ids: list[Any] = []
        self.logprobs: list[Any] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        values, ids = torch.log_softmax(scores.float(), dim=-1).topk(self.k, dim=-1)
        self.ids.append(ids.to(torch.int32).cpu())
        self.logprobs.append(values.to(torch.float16).cpu())
        return scores

    def generate_kwargs(self, sampling: SamplingParams) -> dict[str, Any]:
        """``generate`` arguments that run this recorder first, then the sampling processors."""
        from transformers import (
            LogitsProcessorList,
            RepetitionPenaltyLogitsProcessor,
            TemperatureLogitsWarper,
            TopPLogitsWarper,
        )

        processors: list[Any] = [self]
        if sampling.repetition_penalty is not None:
            processors.append(RepetitionPenaltyLogitsProcessor(sampling.repetition_penalty))
        sampled = sampling.temperature > 0
        if sampled and sampling.temperature != 1.0:
            processors.append(TemperatureLogitsWarper(sampling.temperature))
        if sampled and sampling.top_p < 1.0:
            processors.append(TopPLogitsWarper(sampling.top_p))
        # Neutral values: generate adds no processor of its own for them.
        return {
            "logits_processor": LogitsProcessorList(processors),
            "repetition_penalty": None,
            "temperature": 1.0 if sampled else None,
            "top_p": 1.0 if sampled else None,
            "top_k": None,
        }

    def answer(self, row: int, token_ids: list[int]) -> TeacherTokens:
        """One answer's tokens and the distributions they were generated from."""
        steps = range(len(token_ids))
        return TeacherTokens(
            np.asarray(token_ids, dtype=np.int32),
            np.stack([self.ids[t][row].numpy() for t in steps]).reshape(len(token_ids), self.k),
            np.stack([self.logprobs[t][row].numpy() for t in steps]).reshape(
                len(token_ids), self.k
            ),
        )


def _choice_tokens(tok: Any, choice: str) -> set[int]:
    """The ids a reply starting with ``choice`` can begin with (with and without a space)."""
    ids = set()
    for text in (choice, " " + choice):
        encoded = tok.encode(text, add_special_tokens=False)
        if encoded:
            ids.add(encoded[0])
    return ids


def _eos_ids(lm: Any, tok: Any) -> list[int]:
    ids = lm.generation_config.eos_token_id
    found = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tok.eos_token_id is not None:
        found.add(tok.eos_token_id)
    return sorted(found)


class LocalOptions(RayOptions, TeacherOptions):
    """The ``local`` backend: a transformers model in this process (CPU or GPU)."""

    backend: Literal["local"] = Field("local", json_schema_extra=cli(flag="--teacher"))
    batch_size: int = Field(16, ge=1, description="Prompts per generate() batch")
    device: str | None = Field(
        None, description="cpu, cuda, ... (default: the best available)",
        json_schema_extra=cli(hidden=True),
    )  # fmt: skip

    def in_flight(self) -> int:
        """Prompts per batch, times the Ray workers."""
        return self.batch_size * self.ray_width()

    def identity(self) -> dict[str, str]:
        """Backend, model name and the folder's weights fingerprint (see ``identity``)."""
        path, name = resolve_model_path(self.model)
        return {"backend": "local", "model": name, "endpoint": folder_identity(path)}

    def build(self) -> Teacher:
        """A :class:`LocalTeacher` (weights load on first use)."""
        return LocalTeacher(self.model, batch_size=self.batch_size, device=self.device)
