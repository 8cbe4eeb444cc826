"""Greedy k-center over unit-length sentence embeddings: a diverse subset of a given size.

Gonzalez's greedy rule: start from one point, then repeatedly add the point
farthest (cosine distance) from everything chosen so far. The chosen set's
covering radius is at most twice the best possible.

**The tie rule, and why the arithmetic is exact.** Float products summed in a
different order round differently: the BLAS kernel numpy runs (which
``OPENBLAS_CORETYPE`` changes), the block size and the batch of candidates all
change that order, and near-ties then break differently, so the picks would
depend on the machine. Here every embedding is first rounded to a fixed-point
grid (:func:`quantize`: each row scaled by one common factor so no row is
longer than :func:`grid_scale`, then rounded to integers, kept in ``float32``).
Every inner product of two grid rows is then a sum of integer products whose
partial sums are all below 2**24 in magnitude (Cauchy-Schwarz bounds each of
them by the product of the two rows' lengths), so ``float32`` represents every
intermediate exactly: the result is the same integer in any summation order,
with or without fused multiply-add, on every kernel. On those exact
similarities the rule is: **pick the row whose largest similarity to the chosen
set is the smallest; on an exact tie, the lowest row index.** The batched
rounds of :func:`kcenter_greedy` and the one-at-a-time rule give the same
picks under it, whatever the kernel, block size or candidate batch.

The grid moves a cosine distance between unit vectors by at most
:func:`grid_error` (a worst-case bound; a typical move is a few times
``1e-5``): that is the only difference from float k-center, and it only
decides between points whose distances agree to within that bound, which is
far below the noise of the sentence embeddings themselves.

Memory is the quantized embeddings (``float32``, the same as the input) plus
one ``float32`` per point; a million 384-dimensional embeddings take about
1.5 GB. The picks are computed in rounds of matrix products (see
:func:`kcenter_greedy`).

Why not a library: apricot's facility location and submodlib need a dense or
k-nearest-neighbour similarity graph over all points (quadratic, or a
nearest-neighbour index we would have to build and tune), and neither is
maintained for current NumPy/Python releases. The greedy step is a few lines;
``tests/selection/test_kcenter.py`` checks it against a brute-force version
in integer arithmetic on small sets.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

#: Rows per block of the similarity update: bounds the temporary (rows x centres) matrix.
BLOCK = 16_384
#: Candidates examined per round of the batched greedy step.
CANDIDATES = 1024
#: Every partial sum of a grid inner product stays below this magnitude: exact in float32.
EXACT_LIMIT = 2**24


def grid_scale(dims: int) -> float:
    """The longest a grid row may be: rounding adds at most ``sqrt(dims) / 2`` to a
    row's length, and two rows of length below ``sqrt(EXACT_LIMIT)`` keep every partial
    sum of their inner product below :data:`EXACT_LIMIT`."""
    return float(math.floor(math.sqrt(EXACT_LIMIT) - 1 - math.sqrt(max(dims, 1)) / 2))


def grid_error(dims: int) -> float:
    """A bound on how far the grid moves a cosine distance between two unit vectors.

    Rounding moves each row by at most ``sqrt(dims) / 2`` grid units, that is
    ``sqrt(dims) / (2 * scale)`` in unit-vector terms; a dot product moves by at
    most the sum of the two rows' moves, plus a second-order term the factor covers.
    """
    return 1.01 * math.sqrt(max(dims, 1)) / grid_scale(dims)


def quantize(vectors: np.ndarray) -> np.ndarray:
    """Embeddings on the fixed-point grid: integer-valued ``float32`` rows.

    All rows are scaled by one common factor, so the longest row has length
    :func:`grid_scale` (unit-length rows keep their geometry up to the rounding).
    """
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError("expected one embedding per row (a 2-D array)")
    longest = 0.0
    for start in range(0, x.shape[0], BLOCK):
        block = x[start : start + BLOCK].astype(np.float64)
        longest = max(longest, float(np.sqrt((block * block).sum(axis=1)).max(initial=0.0)))
    # Rounded up to 1/1024: a last-bit difference in the norm (another CPU's summation)
    # cannot change the scale, so the grid is the same on every machine.
    longest = math.ceil(longest * 1024) / 1024
    scale = grid_scale(x.shape[1]) / (longest or 1.0)
    out = np.empty(x.shape, dtype=np.float32)
    for start in range(0, x.shape[0], BLOCK):  # blockwise: no full-size float64 temporary
        block = x[start : start + BLOCK].astype(np.float64) * scale
        out[start : start + BLOCK] = np.rint(block)
    return out


def exact_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b.T`` for grid rows: exact (integer-valued ``float32``) on any BLAS kernel."""
    return np.asarray(a, dtype=np.float32) @ np.asarray(b, dtype=np.float32).T


def _update(q: np.ndarray, closest: np.ndarray, centres: np.ndarray) -> None:
    """``closest = max(closest, similarity to any of centres)``, block by block."""
    for start in range(0, q.shape[0], BLOCK):
        stop = min(q.shape[0], start + BLOCK)
        np.maximum(closest[start:stop], exact_dot(q[start:stop], centres).max(axis=1),
                   out=closest[start:stop])  # fmt: skip


def kcenter_greedy(
    vectors: np.ndarray,
    k: int,
    first: int = 0,
    on_step: Callable[[int], None] | None = None,
) -> list[int]:
    """Indices of ``k`` rows chosen by greedy k-center, in the order chosen.

    Each pick is the row whose largest exact grid similarity to the chosen set
    is the smallest, ties to the lowest row index (see the module docstring).
    The plain rule costs one pass over every embedding per pick, which is
    bound by memory bandwidth. This computes the same picks in rounds: the
    ``CANDIDATES`` rows farthest from the chosen set are taken, and the rule is
    followed among them (their similarities to each other are one small matrix
    product) for as long as the next pick is provably the global one: it is
    strictly farther than every row outside the candidates, which a new centre
    can only bring closer. Then all rows are updated with the round's centres
    in one matrix product.

    Args:
        vectors: One unit-length embedding per row.
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
    q = quantize(vectors)
    # Largest similarity to a chosen row; chosen rows get +inf so they are never picked again.
    closest = np.full(n, -np.inf, dtype=np.float32)
    chosen = [first]
    _update(q, closest, q[[first]])
    closest[first] = np.inf
    while len(chosen) < k:
        left = n - len(chosen)
        size = min(CANDIDATES, left)
        if size < left:
            top = np.argpartition(closest, size)[: size + 1]
            order = top[np.argsort(closest[top], kind="stable")]
            candidates, outside = np.sort(order[:size]), float(closest[order[size]])
        else:
            candidates, outside = np.flatnonzero(closest < np.inf), np.inf
        values = closest[candidates].copy()
        block = q[candidates]
        similarities = exact_dot(block, block)
        picked: list[int] = []
        while len(chosen) + len(picked) < k:
            j = int(np.argmin(values))  # exact tie: the lowest row (candidates are sorted)
            if values[j] >= outside:
                break
            picked.append(j)
            np.maximum(values, similarities[j], out=values)
            values[j] = np.inf
        # No pick: a tie with a row outside the candidates; take one plain step (lowest row).
        rows = [int(candidates[j]) for j in picked] if picked else [int(np.argmin(closest))]
        _update(q, closest, q[rows])
        closest[rows] = np.inf
        chosen.extend(rows)
        if on_step is not None:
            on_step(len(chosen))
    return chosen


def covering_radius(vectors: np.ndarray, centres: list[int]) -> float:
    """The largest cosine distance from any row to its nearest centre (what k-center minimises).

    Computed in ``float32`` blocks, so it may differ from an exact computation by float
    rounding; compare radii with a tolerance, never exactly.
    """
    x = np.asarray(vectors, dtype=np.float32)
    if not centres:
        return float("inf")
    nearest = np.full(x.shape[0], np.inf, dtype=np.float32)
    for s in range(0, len(centres), 512):
        block = x[centres[s : s + 512]]
        for r in range(0, x.shape[0], BLOCK):
            part = 1.0 - (x[r : r + BLOCK] @ block.T).max(axis=1)
            np.minimum(nearest[r : r + BLOCK], part, out=nearest[r : r + BLOCK])
    return float(nearest.max())


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
