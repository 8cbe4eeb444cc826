"""Model answers: wrapped prompts, seq2seq, and the crash-safe answer cache."""

from __future__ import annotations

import shutil
from pathlib import Path

from herdsman.evaluate.answers import GenerationSettings, model_answers
from herdsman.evaluate.models import model_from_dir
from tests.evaluate.models_fixture import tiny_seq2seq_student, tiny_student

INSTRUCTIONS = ["Name a colour.", "Give me a word that rhymes with cat.", "Count to three."]
SETTINGS = GenerationSettings(max_new_tokens=6, batch_size=2)


def test_answers_are_cached_and_survive_a_cut_line(tmp_path: Path) -> None:
    model = model_from_dir(tiny_student(tmp_path))
    cache = tmp_path / "answers.jsonl"
    first = model_answers(model, INSTRUCTIONS, cache, SETTINGS)
    assert len(first) == 3 and all(isinstance(a, str) for a in first)
    assert len(cache.read_text().splitlines()) == 3
    # A crash half way through writing the last line: that answer is regenerated, the rest reused.
    text = cache.read_bytes()
    cache.write_bytes(text[: len(text) - 10])
    weights = model.path / "model.safetensors"
    assert model_answers(model, INSTRUCTIONS, cache, SETTINGS) == first
    lines = cache.read_text().splitlines()
    assert len(lines) == 4  # 2 good + 1 cut + 1 regenerated, each on its own line
    # Everything cached: the model is not even loaded (its weights are gone).
    shutil.move(weights, tmp_path / "moved.safetensors")
    assert model_answers(model, INSTRUCTIONS, cache, SETTINGS) == first


def test_greedy_answers_are_reproducible_and_batch_independent(tmp_path: Path) -> None:
    model = model_from_dir(tiny_student(tmp_path))
    batched = model_answers(model, INSTRUCTIONS, tmp_path / "a.jsonl", SETTINGS)
    single = model_answers(
        model,
        INSTRUCTIONS,
        tmp_path / "b.jsonl",
        GenerationSettings(max_new_tokens=6, batch_size=1),
    )
    assert batched == single


def test_seq2seq_answers(tmp_path: Path) -> None:
    model = model_from_dir(tiny_seq2seq_student(tmp_path))
    answers = model_answers(model, INSTRUCTIONS, tmp_path / "t5.jsonl", SETTINGS)
    assert len(answers) == 3
