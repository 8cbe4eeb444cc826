"""Training examples for students: LaMini rows -> prompt/completion pairs that fit ``max_length``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from herdsman.dataset.read import read_dataset
from herdsman.errors import HerdsmanError
from herdsman.train.wrappers import wrap

MIN_COMPLETION_TOKENS = 4


@dataclass
class TrainingData:
    """Prompt/completion pairs for training and (when the dataset has one) the held-out split."""

    train: list[dict[str, str]]
    held_out: list[dict[str, str]]
    dropped_empty: int = 0
    dropped_too_long: int = 0


def read_splits(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Train and held-out rows: a herdsman dataset folder has both; a plain file is all train."""
    frame = read_dataset(path)
    rows = frame[["instruction", "response", *(["split"] if "split" in frame else [])]]
    records = rows.to_dict("records")
    if "split" in frame:
        train = [r for r in records if r["split"] != "held_out"]
        held = [r for r in records if r["split"] == "held_out"]
        return train, held
    return records, []


def wrapper_overhead(tokenizer: Any, wrapper: str) -> int:
    """Tokens the wrapper adds around an empty instruction."""
    return len(tokenizer(wrap("", wrapper, tokenizer), add_special_tokens=True)["input_ids"])


def build_training_data(
    path: Path, tokenizer: Any, wrapper: str, max_length: int, architecture: str
) -> TrainingData:
    """Read a LaMini dataset and shape it for the student.

    Causal students get ``{"prompt", "completion"}`` with the wrapper applied;
    encoder-decoder students get the raw instruction as prompt. Rows with an
    empty response are dropped; so are rows whose prompt leaves fewer than
    ``MIN_COMPLETION_TOKENS`` of ``max_length`` for the answer (causal only:
    they would train on nothing).

    Raises:
        HerdsmanError: ``max_length`` shorter than the wrapper, or no usable row.
    """
    if architecture == "causal":
        overhead = wrapper_overhead(tokenizer, wrapper)
        if max_length < overhead + MIN_COMPLETION_TOKENS + 1:
            raise HerdsmanError(
                f"max_length {max_length} is too short: the '{wrapper}' wrapper alone takes "
                f"{overhead} tokens (use max_length >= {overhead + 64} or wrapper: none)"
            )
    train_rows, held_rows = read_splits(path)
    data = TrainingData([], [])
    for rows, out in ((train_rows, data.train), (held_rows, data.held_out)):
        prompts = [
            wrap(r["instruction"], wrapper, tokenizer)
            if architecture == "causal"
            else r["instruction"]
            for r in rows
        ]
        lengths = (
            [len(ids) for ids in tokenizer(prompts, add_special_tokens=True)["input_ids"]]
            if architecture == "causal" and prompts
            else [0] * len(prompts)
        )
        for row, prompt, length in zip(rows, prompts, lengths, strict=True):
            if not str(row["response"]).strip():
                data.dropped_empty += 1
            elif length > max_length - MIN_COMPLETION_TOKENS:
                data.dropped_too_long += 1
            else:
                out.append({"prompt": prompt, "completion": str(row["response"]).strip()})
    if not data.train:
        raise HerdsmanError(
            f"{path}: no usable training rows ({data.dropped_empty} with empty responses, "
            f"{data.dropped_too_long} with prompts longer than max_length {max_length})"
        )
    return data
