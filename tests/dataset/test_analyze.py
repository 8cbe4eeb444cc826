"""``herdsman analyze`` on real published answers: numbers, figures, exact diversity maths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from herdsman.dataset.analyze import leading_word, lexical_diversity, mean_cosine_distance
from tests.conftest import require_data, run_cli


def test_mean_cosine_distance_matches_all_pairs() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 16))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = vectors @ vectors.T
    brute = 1 - (sims.sum() - np.trace(sims)) / (300 * 299)
    assert abs(mean_cosine_distance(vectors) - brute) < 1e-4
    assert mean_cosine_distance(vectors[:1]) is None
    same = np.repeat(vectors[:1], 5, axis=0)
    assert abs(mean_cosine_distance(same)) < 1e-6


def test_lexical_diversity_on_a_fixed_sample() -> None:
    texts = ["Write a poem.", "write a story", "Explain gravity.", '"Name" three rivers']
    div = lexical_diversity(texts, seed=0)
    assert div["sample"] == 4 and div["leading_word_share"] == 0.75
    assert div["top_leading_words"][0] == ("write", 2)
    assert leading_word("  **Summarize:** this") == "summarize"
    many = [f"Task number {i}" for i in range(5000)]
    assert lexical_diversity(many, seed=0)["sample"] == 1000


def test_analyze_real_predictions(tmp_path: Path) -> None:
    data = require_data("self_instruct", "predictions", "text-davinci-003_predictions.jsonl")
    out = tmp_path / "analysis"
    result = run_cli("analyze", str(data), "-o", str(out))
    assert result.returncode == 0, result.stderr
    numbers = json.loads((out / "analysis.json").read_text())
    assert numbers["rows"] == 252 and numbers["composition"] == {"unlabelled": 252}
    assert numbers["tsne_points"] == 252
    rows = [json.loads(line) for line in data.open()]
    mean_words = sum(len(r["instruction"].split()) for r in rows) / 252
    assert abs(numbers["lengths"]["instruction_words"]["mean"] - mean_words) < 0.01
    # Real, varied user instructions: far from identical, but not random vectors either.
    assert 0.6 < numbers["diversity"]["mean_cosine_distance"] < 0.99
    assert set(numbers["timings_s"]) >= {"embed_s", "tsne_s"}
    for name in ("composition.png", "lengths.png", "diversity_tsne.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    points = (out / "tsne_points.csv").read_text().splitlines()
    assert points[0] == "x,y,instruction_source" and len(points) == 253
    assert "mean cosine distance" in result.stderr
