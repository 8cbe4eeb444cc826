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


def test_statistics_cover_every_row_and_embeddings_a_stated_sample(tmp_path: Path) -> None:
    from herdsman.dataset.analyze import AnalyzeSettings, Reservoir, analyze

    alpaca = json.loads(require_data("alpaca", "alpaca_5000.json").read_text())[:1500]
    rows = [
        {"instruction": r["instruction"], "response": r["output"], "instruction_source": s}
        for r, s in zip(alpaca, ["alpaca", "original_p3", "alpaca"] * 500, strict=True)
    ]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = analyze(path, tmp_path / "out", AnalyzeSettings(embed_sample=300, perplexity=10))
    numbers = result.numbers
    assert numbers["rows"] == 1500 and numbers["composition"] == {
        "alpaca": 1000,
        "original_p3": 500,
    }
    words = [len(r["response"].split()) for r in rows]
    assert numbers["lengths"]["response_words"]["max"] == max(words)
    assert abs(numbers["lengths"]["response_words"]["mean"] - sum(words) / 1500) < 0.01
    assert numbers["embedded_rows"] == numbers["tsne_points"] == 300
    assert numbers["diversity"]["sample"] == 1000  # lexical figures: their own fixed sample
    assert len((tmp_path / "out" / "tsne_points.csv").read_text().splitlines()) == 301
    # The sample is uniform and seeded: the same rows every time, spread over the file.
    picks = Reservoir(300, seed=1)
    for n in range(30_000):
        picks.offer((n, "", ""))
    chosen = [n for n, _, _ in picks.in_order()]
    again = Reservoir(300, seed=1)
    for n in range(30_000):
        again.offer((n, "", ""))
    assert chosen == [n for n, _, _ in again.in_order()] and len(chosen) == 300
    assert 12_000 < sum(chosen) / 300 < 18_000 and chosen[-1] > 27_000
