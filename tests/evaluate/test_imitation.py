"""Imitation score: ROUGE-L and MiniLM similarity of answers to the teacher's."""

from __future__ import annotations

import numpy as np
import pytest

from herdsman.evaluate.imitation import cosine_pairs, imitation_scores, rouge_l

TEACHER = [
    "Paris is the capital of France.",
    "Drink water, sleep well and exercise every day.",
    "A noun is a word that names a person, place or thing.",
]


def test_rouge_l() -> None:
    assert rouge_l(["the cat sat"], ["the cat sat"]) == [1.0]
    assert rouge_l(["the cat sat"], ["dogs bark loudly"]) == [0.0]
    assert 0 < rouge_l(["the cat sat on the mat"], ["the cat is on a mat"])[0] < 1


def test_cosine_pairs_handles_zero_rows() -> None:
    left = np.array([[1.0, 0.0], [0.0, 0.0]])
    right = np.array([[2.0, 0.0], [1.0, 1.0]])
    assert cosine_pairs(left, right).tolist() == [1.0, 0.0]


def test_copying_the_teacher_scores_highest() -> None:
    scores = imitation_scores(
        TEACHER,
        {
            "copy": list(TEACHER),
            "paraphrase": [
                "The capital city of France is Paris.",
                "Stay hydrated, get enough sleep and work out daily.",
                "Nouns are words naming people, places or things.",
            ],
            "unrelated": ["I like trains.", "The stock market fell.", "Blue whales are big."],
            "empty": ["", "", ""],
        },
    )
    by = {s.model: s for s in scores}
    assert by["copy"].rouge_l == pytest.approx(1.0)
    assert by["copy"].embedding_similarity == pytest.approx(1.0, abs=1e-4)
    assert by["copy"].embedding_similarity > by["paraphrase"].embedding_similarity
    assert by["paraphrase"].embedding_similarity > by["unrelated"].embedding_similarity + 0.3
    assert by["paraphrase"].rouge_l > by["unrelated"].rouge_l
    assert by["empty"].rouge_l == 0.0
    assert all(s.items == 3 for s in scores)
    assert imitation_scores([], {"x": []}) == []
