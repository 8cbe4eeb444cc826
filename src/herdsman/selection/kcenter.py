"""Greedy k-center over unit-length sentence embeddings: a diverse subset of a given size.

Gonzalez's greedy rule: start from one point, then repeatedly add the point
farthest (cosine distance) from everything chosen so far. The chosen set's
covering radius is at most twice the best possible. Memory is the embeddings
plus one float per point (a million 384-dimensional float32 embeddings take
about 1.5 GB); the picks are computed in rounds of matrix products (see
:func:`kcenter_greedy`), the same picks as the one-at-a-time rule (two
picks at an exact or near tie may swap places through float rounding).

Why not a library: apricot's facility location and submodlib need a dense or
k-nearest-neighbour similarity graph over all points (quadratic, or a
nearest-neighbour index we would have to build and tune), and neither is
maintained for current NumPy/Python releases. The greedy step is a few lines;
``tests/selection/test_kcenter.py`` checks it against a brute-force version
on small sets.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: Rows per block of the distance update: bounds the temporary (rows x centres) matrix.
BLOCK = 16_384
#: Candidates examined per round of the batched greedy step.
CANDIDATES = 1024


def _update(x: np.ndarray, nearest: np.ndarray, centres: np.ndarray) -> None:
    """``nearest = min(nearest, cosine distance to any of centres)``, block by block."""
    for start in range(0, x.shape[0], BLOCK):
        stop = min(x.shape[0], start + BLOCK)
        sims = x[start:stop] @ centres.T
        closest = 1.0 - sims.max(axis=1)
        np.minimum(nearest[start:stop], closest, out=nearest[start:stop])


def kcenter_greedy(
    vectors: np.ndarray,
    k: int,
    first: int = 0,
    on_step: Callable[[int], None] | None = None,
) -> list[int]:
    """Indices of ``k`` rows chosen by greedy k-center, in the order chosen.

    The plain greedy rule costs one pass over every embedding per pick, which
    is bound by memory bandwidth. This computes the same picks in rounds: the
    ``CANDIDATES`` rows farthest from the chosen set are taken, and the greedy
    rule is followed among them (their distances to each other are one small
    matrix product) for as long as the next pick is provably the global one:
    its distance still exceeds that of every row outside the candidates, which
    a new centre can only lower. Then all rows are updated with the round's
    centres in one matrix product.

    Args:
        vectors: One unit-length embedding per row (``float32`` keeps memory low).
        k: How many to choose (at most the number of rows).
        first: The row to start from (the best-scored one, so the choice is deterministic).
        on_step: Called with the number chosen so far after each round.

    Raises:
        ValueError: ``k`` outside ``[0, rows]`` or ``first`` not a row.
    """
    n = vectors.shape[0]
    if not 0 <= k <= n:
        raise ValueError(f"cannot choose {k} of {n} rows")
    if k == 0:
        return []
    if not 0 <= first < n:
        raise ValueError(f"first row {first} is not one of {n} rows")
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    # Distance to the nearest chosen row; chosen rows get -inf so they are never picked again.
    nearest = np.full(n, np.inf, dtype=np.float32)
    chosen = [first]
    _update(x, nearest, x[[first]])
    nearest[first] = -np.inf
    while len(chosen) < k:
        left = n - len(chosen)
        size = min(CANDIDATES, left)
        if size < left:
            top = np.argpartition(-nearest, size)[: size + 1]
            order = top[np.argsort(-nearest[top], kind="stable")]
            candidates, outside = np.sort(order[:size]), float(nearest[order[size]])
        else:
            candidates, outside = np.flatnonzero(nearest > -np.inf), -np.inf
        values = nearest[candidates].copy()
        block = x[candidates]
        distances = 1.0 - block @ block.T
        picked: list[int] = []
        while len(chosen) + len(picked) < k:
            j = int(np.argmax(values))  # ties: the lowest row index, as a plain argmax
            if values[j] <= outside:
                break
            picked.append(j)
            np.minimum(values, distances[j], out=values)
            values[j] = -np.inf
        # No pick: a tie with a row outside the candidates; take one plain greedy step.
        rows = [int(candidates[j]) for j in picked] if picked else [int(np.argmax(nearest))]
        _update(x, nearest, x[rows])
        nearest[rows] = -np.inf
        chosen.extend(rows)
        if on_step is not None:
            on_step(len(chosen))
    return chosen


def mean_pairwise_distance(vectors: np.ndarray, sample: int = 2000, seed: int = 0) -> float:
    """Mean cosine distance between distinct rows (on a random sample of rows when larger)."""
    n = vectors.shape[0]
    if n < 2:
        return 0.0
    rng = np.random.default_rng(seed)
    rows = rng.choice(n, size=min(n, sample), replace=False)
    x = np.asarray(vectors[rows], dtype=np.float64)
    sims = x @ x.T
    m = x.shape[0]
    return float((m * m - sims.sum() - (m - np.trace(sims))) / (m * (m - 1)))
