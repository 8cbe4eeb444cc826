"""Greedy k-center: one tie rule, the same picks on every BLAS kernel, block size and batch.

The rule (see ``herdsman.selection.kcenter``): similarities are exact integer
inner products of grid-rounded embeddings; each pick is the row with the
smallest largest-similarity to the chosen set, exact ties to the lowest row.
The brute force below follows that rule in int64 arithmetic, which numpy
computes without BLAS, so it is the same on every machine.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from herdsman.selection import kcenter
from herdsman.selection.kcenter import (
    covering_radius,
    grid_error,
    kcenter_greedy,
    mean_pairwise_distance,
    quantize,
)

pytestmark = pytest.mark.numeric  # run again under the other BLAS kernel by `make test`


def unit(rows: int, dims: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((rows, dims)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def exact_similarities(x: np.ndarray) -> np.ndarray:
    """Grid similarities in int64: no BLAS, no rounding."""
    q = quantize(x).astype(np.int64)
    return q @ q.T


def brute_force(x: np.ndarray, k: int, first: int) -> list[int]:
    """The textbook rule on exact similarities: one argmin per pick, ties to the lowest row."""
    sim = exact_similarities(x)
    chosen = [first]
    closest = sim[first].astype(object)  # Python ints: no overflow, no rounding
    closest[first] = None
    while len(chosen) < k:
        pick = min((int(v), i) for i, v in enumerate(closest) if v is not None)[1]
        chosen.append(pick)
        for i, v in enumerate(closest):
            if v is not None:
                closest[i] = max(v, sim[pick, i])
        closest[pick] = None
    return chosen


@pytest.mark.parametrize(
    ("rows", "dims", "k", "first"),
    [(50, 4, 10, 0), (300, 8, 120, 7), (800, 16, 500, 3), (1200, 32, 1199, 11)],
)
def test_same_picks_as_brute_force(rows: int, dims: int, k: int, first: int, monkeypatch) -> None:
    x = unit(rows, dims, seed=rows)
    expected = brute_force(x, k, first)
    for candidates, block in ((64, 97), (1, 13), (1024, 16_384)):
        monkeypatch.setattr(kcenter, "CANDIDATES", candidates)
        monkeypatch.setattr(kcenter, "BLOCK", block)  # blocks that do not divide the rows
        assert kcenter_greedy(x, k, first) == expected, (candidates, block)


def test_exact_ties_go_to_the_lowest_row(monkeypatch) -> None:
    a, b = np.eye(5, dtype=np.float32)[:2]  # exact on the grid: equal norms, exact ties
    x = np.stack([a, b, b, a, b])
    # After row 0: rows 1, 2 and 4 (copies of b) are equally far; the lowest wins.
    assert kcenter_greedy(x, 2, 0) == [0, 1]
    # Then every row left is at distance 0 from a centre: lowest first.
    assert kcenter_greedy(x, 5, 0) == [0, 1, 2, 3, 4]
    monkeypatch.setattr(kcenter, "CANDIDATES", 1)  # the tie straddles the candidate batch
    assert kcenter_greedy(x, 5, 0) == [0, 1, 2, 3, 4]


def test_duplicates_and_ties_are_picked_like_the_plain_rule(monkeypatch) -> None:
    base = unit(20, 6, seed=1)
    x = np.concatenate([base, base, base[:5]])  # every row has exact twins: many ties
    for candidates in (1, 3, 8, 1024):
        monkeypatch.setattr(kcenter, "CANDIDATES", candidates)
        for k in (1, 10, 20, 30, len(x)):
            picks = kcenter_greedy(x, k, 0)
            assert picks == brute_force(x, k, 0)
            assert len(set(picks)) == k


PICKS_SCRIPT = """
import json, sys
import numpy as np
from herdsman.selection.kcenter import kcenter_greedy
rng = np.random.default_rng(3000)
x = rng.standard_normal((3000, 32)).astype(np.float32)
x /= np.linalg.norm(x, axis=1, keepdims=True)
x = np.concatenate([x, x[:300]])  # exact twins as well as near-ties
import threadpoolctl
kernel = [i.get("architecture") for i in threadpoolctl.threadpool_info()]
print(json.dumps({"picks": kcenter_greedy(x, 3299, 11), "kernel": kernel}))
"""


def test_picks_do_not_depend_on_the_blas_kernel() -> None:
    """The same picks with ``OPENBLAS_CORETYPE=Haswell`` and without it (separate processes:
    OpenBLAS reads the variable once, when it loads)."""
    runs = []
    for coretype in ("Haswell", None):
        env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE",)}
        if coretype:
            env["OPENBLAS_CORETYPE"] = coretype
        out = subprocess.run(
            [sys.executable, "-c", PICKS_SCRIPT], env=env, capture_output=True, text=True,
            check=True, timeout=300,
        )  # fmt: skip
        runs.append(json.loads(out.stdout))
    assert runs[0]["picks"] == runs[1]["picks"], (runs[0]["kernel"], runs[1]["kernel"])


def test_first_difference_from_float_kcenter_is_a_near_tie() -> None:
    """Against k-center in plain float64 (the rule without the grid): wherever the
    two first part, the two rows were within the grid's tolerance of each other."""
    x = unit(1500, 24, seed=9)
    d = 1.0 - x.astype(np.float64) @ x.astype(np.float64).T
    ours = kcenter_greedy(x, 1499, 0)
    nearest = d[0].copy()
    nearest[0] = -np.inf
    for step, pick in enumerate(ours[1:], start=1):
        float_pick = int(np.argmax(nearest))
        if float_pick != pick:
            gap = nearest[float_pick] - nearest[pick]
            assert 0 <= gap <= 2 * grid_error(x.shape[1]) + 1e-12, (step, gap)
            break
        nearest = np.minimum(nearest, d[pick])
        nearest[ours[: step + 1]] = -np.inf


def test_covering_radius_agrees_with_exact_within_tolerance() -> None:
    """The float32 blocked radius and the exact grid radius describe the same picks:
    equal up to float rounding plus the grid's bound, never compared exactly."""
    x = unit(2000, 16, seed=4)
    picks = kcenter_greedy(x, 200, 0)
    sim = exact_similarities(x)
    norms = np.linalg.norm(quantize(x).astype(np.float64), axis=1)
    exact = float((1.0 - (sim[:, picks] / np.outer(norms, norms[picks])).max(axis=1)).max())
    assert covering_radius(x, picks) == pytest.approx(exact, abs=grid_error(16) + 1e-6)


def test_covering_radius_is_within_twice_the_optimum() -> None:
    x = unit(12, 3, seed=5)
    k = 3
    euclid = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * (x @ x.T)))  # a metric, monotone in cosine

    def radius(centres: list[int] | tuple[int, ...]) -> float:
        return float(euclid[:, list(centres)].min(axis=1).max())

    best = min(radius(c) for c in itertools.combinations(range(len(x)), k))
    # 1e-4: the grid moves a distance by at most grid_error(3), far below this margin.
    assert radius(kcenter_greedy(x, k, 0)) <= 2 * best + 1e-4


def test_grid_products_stay_exact_in_float32() -> None:
    for dims in (1, 2, 3, 384, 4096, 100_000):
        # The longest grid row after rounding, squared, bounds every partial sum.
        assert (kcenter.grid_scale(dims) + np.sqrt(dims) / 2) ** 2 < kcenter.EXACT_LIMIT
    rng = np.random.default_rng(7)
    x = rng.standard_normal((64, 384)).astype(np.float32) * 3.0  # not unit length: still bounded
    q = quantize(x)
    assert float(np.linalg.norm(q.astype(np.float64), axis=1).max()) <= (
        kcenter.grid_scale(384) + np.sqrt(384) / 2
    )
    assert np.array_equal(kcenter.exact_dot(q, q), (q.astype(np.int64) @ q.astype(np.int64).T))


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
