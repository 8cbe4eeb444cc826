"""Instruction-following difficulty (IFD): how much the instruction helps a model predict the answer.

From "From Quantity to Quality" (Li et al., 2024): IFD = the scorer model's
mean loss on the response given the instruction, divided by its mean loss on
the response alone. Near 0, the answer follows easily from the instruction
(little left to learn); at 1 or above, the instruction does not help at all
(often a mismatched or degenerate pair); the informative pairs lie in between.
It needs no judge, only one forward pass per text.

Both losses cover exactly the same response tokens: a decoder-only scorer
sees the wrapped instruction then the response, or a start token then the
response; an encoder-decoder scorer gets the instruction, or an empty input,
on the encoder side. Pairs are scored in length-sorted batches (padding
wasted on a batch is small); finished scores are appended to a cache file as
each batch ends, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from herdsman.console import quiet_progress_bars
from herdsman.errors import HerdsmanError
from herdsman.io.jsonl import append_jsonl, iter_json_objects
from herdsman.train.bases import resolve_base
from herdsman.train.wrappers import choose_wrapper, wrap


@dataclass(frozen=True)
class IfdScore:
    """Losses and their ratio for one pair (``ifd`` is ``None`` when the response is empty)."""

    conditioned: float | None
    unconditioned: float | None
    ifd: float | None


class IfdScorer:
    """A model that scores (instruction, response) pairs with IFD."""

    def __init__(self, base: str, max_length: int = 512, wrapper: str = "auto") -> None:
        """Load the scorer.

        Args:
            base: A student base: local folder, cached hub id or embedded alias.
            max_length: Tokens per text (longer ones are cut at the end).
            wrapper: How a decoder-only scorer is shown the instruction.

        Raises:
            HerdsmanError: The model cannot be resolved or loaded.
        """
        import torch
        from transformers import AutoConfig, AutoTokenizer

        quiet_progress_bars()
        resolved = resolve_base(base)
        self.name, self.path = resolved.name, resolved.path
        self.architecture = resolved.architecture
        self.max_length = max_length
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            AutoConfig.from_pretrained(self.path, local_files_only=True)
            self.tokenizer: Any = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise HerdsmanError(f"IFD scorer {base}: cannot load the model ({exc})") from None
        self._model: Any = None  # weights load on first use: a resumed run may need none
        self.wrapper = choose_wrapper(wrapper, self.tokenizer, self.architecture)
        start = self.tokenizer.bos_token_id
        if start is None:
            start = self.tokenizer.eos_token_id
        self.start: int = int(start if start is not None else 0)
        self.pad: int = int(
            self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.start
        )

    @property
    def model(self) -> Any:
        """The scorer's weights, loaded on first use.

        Raises:
            HerdsmanError: The weights cannot be loaded.
        """
        if self._model is None:
            from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

            cls: Any = (
                AutoModelForSeq2SeqLM if self.architecture == "seq2seq" else AutoModelForCausalLM
            )
            try:
                model = cls.from_pretrained(self.path, local_files_only=True)
            except (OSError, ValueError) as exc:
                raise HerdsmanError(
                    f"IFD scorer {self.name}: cannot load the model ({exc})"
                ) from None
            self._model = model.to(self.device).eval()
        return self._model

    def close(self) -> None:
        """Drop the model and hand back its accelerator memory."""
        import gc

        import torch

        self._model = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def identity(self) -> str:
        """What decides the scores: model folder, wrapper, length limit."""
        return f"{Path(self.path).resolve()}|{self.wrapper}|{self.max_length}|ifd-1"

    def _ids(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    def _causal_rows(
        self, instruction: str, response: str
    ) -> tuple[tuple[list[int], int], tuple[list[int], int]]:
        """(token ids, answer start) for the conditioned and the unconditioned text."""
        answer = self._ids(response)[: self.max_length - 2]
        prompt = self._ids(wrap(instruction, self.wrapper, self.tokenizer))
        if not prompt or prompt[0] != self.start:
            prompt = [self.start, *prompt]
        prompt = prompt[-(self.max_length - len(answer)) :]  # keep the end: "### Response:"
        return (prompt + answer, len(prompt)), ([self.start, *answer], 1)

    def _padded(self, rows: Sequence[list[int]], fill: int) -> tuple[Any, Any]:
        import torch

        width = max(1, max(len(r) for r in rows))
        ids = torch.full((len(rows), width), fill, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for n, tokens in enumerate(rows):
            if tokens:
                ids[n, : len(tokens)] = torch.tensor(tokens)
                mask[n, : len(tokens)] = 1
        return ids, mask

    def _losses_causal(self, texts: Sequence[tuple[list[int], int]]) -> list[float | None]:
        import torch

        ids, mask = self._padded([t for t, _ in texts], self.pad)
        labels = ids.masked_fill(mask == 0, -100)
        for row, (_, start) in enumerate(texts):
            labels[row, :start] = -100
        with torch.inference_mode():
            logits = self.model(
                input_ids=ids.to(self.device), attention_mask=mask.to(self.device)
            ).logits
        return _mean_losses(logits[:, :-1], labels[:, 1:].to(self.device))

    def _losses_seq2seq(self, pairs: Sequence[tuple[str, str]]) -> list[float | None]:
        import torch

        limit = self.max_length
        sources = [self._ids(p)[:limit] or [self.start] for p, _ in pairs]
        targets = [self._ids(r)[:limit] for _, r in pairs]
        ids, mask = self._padded(sources, self.pad)
        labels, label_mask = self._padded(targets, self.pad)
        labels = labels.masked_fill(label_mask == 0, -100)
        with torch.inference_mode():
            logits = self.model(
                input_ids=ids.to(self.device),
                attention_mask=mask.to(self.device),
                labels=labels.to(self.device),
            ).logits
        return _mean_losses(logits, labels.to(self.device))

    def score_batch(self, pairs: Sequence[tuple[str, str]]) -> list[IfdScore]:
        """IFD of each ``(instruction, response)`` pair, in one batch per view."""
        if self.architecture == "seq2seq":
            cond = self._losses_seq2seq([(i.strip(), r) for i, r in pairs])
            uncond = self._losses_seq2seq([("", r) for _, r in pairs])
        else:
            rows = [self._causal_rows(i, r) for i, r in pairs]
            cond = self._losses_causal([c for c, _ in rows])
            uncond = self._losses_causal([u for _, u in rows])
        out = []
        for c, u in zip(cond, uncond, strict=True):
            ratio = c / u if c is not None and u is not None and u > 0 else None
            out.append(IfdScore(c, u, ratio))
        return out


def _mean_losses(logits: Any, labels: Any) -> list[float | None]:
    """Mean cross-entropy over each row's labelled positions (``None`` for a row with none)."""
    import torch

    losses = torch.nn.functional.cross_entropy(
        logits.float().transpose(1, 2), labels, ignore_index=-100, reduction="none"
    )
    counts = (labels != -100).sum(dim=1)
    sums = losses.sum(dim=1)
    return [
        float(s) / int(n) if int(n) > 0 else None
        for s, n in zip(sums.tolist(), counts.tolist(), strict=True)
    ]


def pair_key(identity: str, instruction: str, response: str) -> str:
    """Cache key of one pair's score under one scorer."""
    payload = orjson.dumps([identity, instruction, response])
    return hashlib.blake2b(payload, digest_size=16).hexdigest()


def read_cache(cache: Path) -> dict[str, IfdScore]:
    """The scores an IFD cache file holds, by :func:`pair_key` (a damaged line is skipped)."""
    known: dict[str, IfdScore] = {}
    if cache.is_file():
        for _, obj in iter_json_objects(cache, skip_bad=True):
            key = obj.get("key")
            if isinstance(key, str):
                known[key] = IfdScore(
                    obj.get("conditioned"), obj.get("unconditioned"), obj.get("ifd")
                )
    return known


def score_pairs(
    scorer: IfdScorer,
    pairs: Sequence[tuple[str, str]],
    cache: Path,
    batch_size: int = 8,
    on_batch: Callable[[int], None] | None = None,
    known: dict[str, IfdScore] | None = None,
) -> list[IfdScore]:
    """IFD for every pair, resuming from (and appending to) the ``cache`` JSONL file.

    Args:
        scorer: The loaded scorer.
        pairs: ``(instruction, response)`` pairs (instruction includes any input).
        cache: Scores already computed, by :func:`pair_key`; new ones are appended.
        batch_size: Pairs per forward pass.
        on_batch: Called with the number of pairs scored in each finished batch.
        known: The cache already read (:func:`read_cache`), for a caller that
            scores its pairs in chunks; new scores are added to it.
    """
    identity = scorer.identity()
    keys = [pair_key(identity, i, r) for i, r in pairs]
    if known is None:
        known = read_cache(cache)
    todo = sorted(
        {k: n for n, k in enumerate(keys) if k not in known}.values(),
        key=lambda n: len(pairs[n][0]) + len(pairs[n][1]),
    )
    with append_jsonl(cache) as out:
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            scores = scorer.score_batch([pairs[n] for n in batch])
            for n, score in zip(batch, scores, strict=True):
                known[keys[n]] = score
                out.write(
                    orjson.dumps(
                        {
                            "key": keys[n],
                            "conditioned": score.conditioned,
                            "unconditioned": score.unconditioned,
                            "ifd": score.ifd,
                        }
                    )
                    + b"\n"
                )
            out.flush()
            if on_batch is not None:
                on_batch(len(batch))
    return [known[k] for k in keys]
