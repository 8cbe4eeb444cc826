"""Greedy k-center: the batched rounds pick exactly what the one-at-a-time rule picks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from herdsman.selection import kcenter
from herdsman.selection.kcenter import kcenter_greedy, mean_pairwise_distance


def unit(rows: int, dims: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((rows, dims)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute_force(x: np.ndarray, k: int, first: int) -> list[int]:
    """The textbook rule: full distance matrix, one argmax per pick."""
    dist = 1.0 - x @ x.T
    chosen = [first]
    nearest = dist[first].copy()
    nearest[first] = -np.inf
    while len(chosen) < k:
        pick = int(np.argmax(nearest))
        chosen.append(pick)
        nearest = np.minimum(nearest, dist[pick])
        nearest[chosen] = -np.inf
    return chosen


@pytest.mark.parametrize(
    ("rows", "dims", "k", "first"),
    [(50, 4, 10, 0), (300, 8, 120, 7), (2000, 16, 700, 3), (3000, 32, 2999, 11)],
)
def test_same_picks_as_brute_force(rows: int, dims: int, k: int, first: int, monkeypatch) -> None:
    monkeypatch.setattr(kcenter, "CANDIDATES", 64)  # many rounds, each cut short
    monkeypatch.setattr(kcenter, "BLOCK", 97)  # blocks that do not divide the rows
    x = unit(rows, dims, seed=rows)
    assert kcenter_greedy(x, k, first) == brute_force(x, k, first)


def test_duplicates_and_ties_are_picked_like_the_plain_rule(monkeypatch) -> None:
    monkeypatch.setattr(kcenter, "CANDIDATES", 8)
    base = unit(20, 6, seed=1)
    x = np.concatenate([base, base, base[:5]])  # every row has exact twins: many ties
    for k in (1, 10, 20, 30, len(x)):
        picks = kcenter_greedy(x, k, 0)
        assert picks == brute_force(x, k, 0)
        assert len(set(picks)) == k


def test_covering_radius_is_within_twice_the_optimum() -> None:
    x = unit(12, 3, seed=5)
    k = 3
    euclid = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * (x @ x.T)))  # a metric, monotone in cosine

    def radius(centres: list[int] | tuple[int, ...]) -> float:
        return float(euclid[:, list(centres)].min(axis=1).max())

    best = min(radius(c) for c in itertools.combinations(range(len(x)), k))
    assert radius(kcenter_greedy(x, k, 0)) <= 2 * best + 1e-6


def test_bad_sizes() -> None:
    x = unit(5, 3, seed=0)
    assert kcenter_greedy(x, 0) == []
    with pytest.raises(ValueError, match="cannot choose 6 of 5"):
        kcenter_greedy(x, 6)
    with pytest.raises(ValueError, match="first row 5"):
        kcenter_greedy(x, 2, first=5)


def test_mean_pairwise_distance_matches_the_definition() -> None:
    x = unit(40, 5, seed=2)
    expected = np.mean([1 - float(x[i] @ x[j]) for i in range(40) for j in range(40) if i != j])
    assert mean_pairwise_distance(x, sample=40) == pytest.approx(expected, abs=1e-6)
    assert mean_pairwise_distance(x[:1]) == 0.0


def test_kcenter_spreads_more_than_random() -> None:
    # Two tight clusters, one much larger: a random tenth is mostly the big cluster.
    rng = np.random.default_rng(0)
    big = rng.normal([1, 0, 0], 0.05, (900, 3))
    small = rng.normal([0, 1, 0], 0.05, (100, 3))
    x = np.concatenate([big, small]).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    picked = kcenter_greedy(x, 100, 0)
    random_rows = rng.choice(len(x), 100, replace=False)
    assert mean_pairwise_distance(x[picked]) > mean_pairwise_distance(x[random_rows])
    assert sum(p >= 900 for p in picked) >= 20  # the small cluster is not drowned out
