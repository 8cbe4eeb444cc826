"""generate's online near-duplicate check at scale: LSH candidates, exact ROUGE-L decisions."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from rouge_score import rouge_scorer

from herdsman.generation.dedup import dedup_texts
from herdsman.generation.dedup_online import OnlineLshDeduplicator, SortedRuns
from tests.helpers.data import public_data

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import scale_corpus


def test_sorted_runs_find_every_pair_like_a_dict() -> None:
    rng = np.random.default_rng(0)
    runs = SortedRuns()
    truth: dict[int, list[int]] = {}
    slot = 0
    for size in (5, 3, 40, 1, 17, 64, 2):  # runs of all sizes, merged as they come
        keys = rng.integers(0, 50, size=size).astype(np.uint32)
        slots = np.arange(slot, slot + size, dtype=np.int32)
        slot += size
        runs.add(keys, slots)
        for k, s in zip(keys.tolist(), slots.tolist(), strict=True):
            truth.setdefault(k, []).append(s)
    assert len(runs) == slot and all(r[0].size for r in runs.runs)
    sizes = [r[0].size for r in runs.runs]
    assert sizes == sorted(sizes, reverse=True)  # the logarithmic shape
    queries = np.array([0, 7, 49, 51, 7], dtype=np.uint32)
    q, found = runs.lookup(queries)
    got = sorted(zip(q.tolist(), found.tolist(), strict=True))
    want = sorted((i, s) for i, k in enumerate(queries.tolist()) for s in truth.get(k, []))
    assert got == want


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    pools = scale_corpus.load_pools(public_data())
    return [r["instruction"] for r in scale_corpus.rows(pools, 4000, seed=11)]


def test_lsh_decisions_match_the_exact_rule_on_template_heavy_text(corpus: list[str]) -> None:
    exact, _ = dedup_texts(corpus)
    online = OnlineLshDeduplicator()
    decisions = []
    for start in range(0, len(corpus), 20):  # a call's worth of instructions at a time
        chunk = corpus[start : start + 20]
        decisions += online.check_many(list(range(start, start + len(chunk))), chunk)
    exact_drops = {i for i, d in enumerate(exact) if not d.kept}
    lsh_drops = {i for i, d in enumerate(decisions) if not d.kept}
    # Recall against the exhaustive rule; the few others are drops of a text whose match
    # the exact rule had itself dropped (a missed pair kept one more text).
    assert len(lsh_drops & exact_drops) / len(exact_drops) >= 0.97
    assert len(lsh_drops - exact_drops) <= 0.01 * len(exact_drops)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    for i in lsh_drops:  # every drop names an earlier kept text it really is a near duplicate of
        d = decisions[i]
        assert d.match is not None and d.match < i and decisions[d.match].kept
        f = scorer.score(corpus[d.match], corpus[i])["rougeL"].fmeasure
        assert d.reason == "exact" or f > 0.7, (i, d, f)


def test_a_limit_keeps_later_texts_out_of_the_index() -> None:
    online = OnlineLshDeduplicator()
    text = "Write a poem about the sea and the wind at night"
    first = online.check_many([0, 1], [text, "Explain how a refrigerator keeps food cold"], limit=1)
    assert [d.kept for d in first] == [True, True] and len(online) == 1
    again = online.check_many([2], ["Explain how a refrigerator keeps food cold"])
    assert again[0].kept  # the second text was decided, not remembered
    assert not online.check_many([3], [text.upper()])[0].kept  # an exact duplicate of a kept one
