"""Answers of a model (student or base) to instructions, greedy, batched, cached on disk.

The imitation score, the probes, the judge and the rating app all need the
same thing: what each model says to a list of instructions. A decoder-only
model sees each instruction inside its wrapper (tokenised as in training);
an encoder-decoder model takes the raw instruction. Prompts are sorted by
length and left-padded into batches (much faster than one at a time on CPU;
see docs/benchmarks.md). Answers are appended to a JSONL cache keyed by model folder,
wrapper, instruction and generation length, so a re-run or a crash half way
costs only the answers not yet written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from herdsman.console import quiet_progress_bars
from herdsman.errors import HerdsmanError
from herdsman.evaluate.models import EvalModel
from herdsman.io.jsonl import append_jsonl, iter_json_objects
from herdsman.train.wrappers import wrap


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding for model answers (greedy: answers are reproducible)."""

    max_new_tokens: int = 128
    batch_size: int = 8
    repetition_penalty: float = 1.1


def answer_key(model: EvalModel, instruction: str, settings: GenerationSettings) -> str:
    """Cache key of one answer."""
    payload = [
        str(model.path.resolve()),
        model.wrapper,
        instruction,
        settings.max_new_tokens,
        settings.repetition_penalty,
    ]
    return hashlib.blake2b(orjson.dumps(payload), digest_size=16).hexdigest()


class _Generator:
    def __init__(self, model: EvalModel) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

        quiet_progress_bars()
        self.model = model
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            self.tokenizer: Any = AutoTokenizer.from_pretrained(model.path, local_files_only=True)
            cls: Any = (
                AutoModelForSeq2SeqLM if model.architecture == "seq2seq" else AutoModelForCausalLM
            )
            self.lm: Any = cls.from_pretrained(model.path, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise HerdsmanError(f"{model.path}: cannot load the model ({exc})") from None
        self.lm = self.lm.to(self.device).eval()
        if model.architecture == "causal":
            self.tokenizer.padding_side = "left"
            self.tokenizer.truncation_side = "left"  # a long prompt keeps its "### Response:" end
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    def prompt(self, instruction: str) -> str:
        if self.model.architecture == "seq2seq":
            return instruction.strip()
        return wrap(instruction, self.model.wrapper, self.tokenizer)

    def generate(self, instructions: list[str], settings: GenerationSettings) -> list[str]:
        import torch

        tok, lm = self.tokenizer, self.lm
        enc = tok(
            [self.prompt(i) for i in instructions],
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=1024,
        ).to(self.device)
        with torch.inference_mode():
            out = lm.generate(
                **enc,
                max_new_tokens=settings.max_new_tokens,
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                repetition_penalty=settings.repetition_penalty,
                pad_token_id=tok.pad_token_id,
            )
        if self.model.architecture == "causal":
            out = out[:, enc.input_ids.shape[1] :]
        return [text.strip() for text in tok.batch_decode(out, skip_special_tokens=True)]


def model_answers(
    model: EvalModel,
    instructions: list[str],
    cache: Path,
    settings: GenerationSettings | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> list[str]:
    """The model's answer to each instruction, in order (from ``cache`` where already there).

    Args:
        model: The model and its wrapper.
        instructions: Instructions (complete, input included).
        cache: JSONL file of earlier answers; new answers are appended as each batch ends.
        settings: Decoding settings.
        on_batch: Called with the number of answers a finished batch added.

    Raises:
        HerdsmanError: The model cannot be loaded.
    """
    settings = settings or GenerationSettings()
    keys = [answer_key(model, i, settings) for i in instructions]
    known: dict[str, str] = {}
    if cache.is_file():
        for _, row in iter_json_objects(cache, skip_bad=True):
            if isinstance(row.get("key"), str) and isinstance(row.get("answer"), str):
                known[row["key"]] = row["answer"]
    todo = sorted({k: i for k, i in zip(keys, instructions, strict=True) if k not in known}.items())
    if todo:
        generator = _Generator(model)
        todo.sort(key=lambda item: len(item[1]))
        with append_jsonl(cache) as handle:  # after a crash's cut line, on a fresh one
            for start in range(0, len(todo), settings.batch_size):
                batch = todo[start : start + settings.batch_size]
                answers = generator.generate([i for _, i in batch], settings)
                for (key, instruction), answer in zip(batch, answers, strict=True):
                    known[key] = answer
                    row = {"key": key, "model": model.name, "instruction": instruction}
                    handle.write(orjson.dumps({**row, "answer": answer}) + b"\n")
                handle.flush()
                if on_batch:
                    on_batch(len(batch))
    return [known[k] for k in keys]
