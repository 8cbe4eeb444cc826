"""Floors, quotas and the final choice, on hand-made scores (the rule, without any model)."""

from __future__ import annotations

import numpy as np
import pytest

from herdsman.selection.choose import (
    ABOVE_IFD,
    BELOW_QUALITY,
    NO_IFD,
    NO_QUALITY,
    SPILL,
    TOO_SHORT,
    Floors,
    Scores,
    choose,
    floor_reasons,
    quota_counts,
)

pytestmark = pytest.mark.numeric  # run again under the other BLAS kernel by `make test`


def test_each_floor_names_its_reason() -> None:
    scores = Scores(
        quality=[4.0, 1.5, None, 3.0, 3.0, 3.0],
        ifd=[0.5, 0.5, 0.5, 1.2, None, 0.4],
        length=[30, 30, 30, 30, 30, 2],
    )
    reasons = floor_reasons(scores, Floors(min_quality=2.0, max_ifd=1.0, min_words=3), 6)
    assert reasons == [None, BELOW_QUALITY, NO_QUALITY, ABOVE_IFD, NO_IFD, TOO_SHORT]
    # No floors: everything passes, whatever its scores.
    assert floor_reasons(scores, Floors(), 6) == [None] * 6


def test_ifd_at_the_ceiling_fails() -> None:
    reasons = floor_reasons(Scores(ifd=[1.0, 0.999]), Floors(max_ifd=1.0), 2)
    assert reasons == [ABOVE_IFD, None]


def test_quota_counts_add_up_to_the_target() -> None:
    sources = ["a"] * 5 + ["b"] * 5 + ["c"] * 5
    assert quota_counts(10, sources, {"a": 0.5}) == {"a": 5, None: 5}
    assert quota_counts(10, sources, {"a": 0.55, "b": 0.45}) == {"a": 6, "b": 4, None: 0}
    counts = quota_counts(7, sources, {"a": 0.5, "b": 0.5})
    assert sum(counts.values()) == 7 and counts[None] == 0


def test_without_diversity_the_best_ranked_are_kept() -> None:
    scores = Scores(quality=[1.0, 4.0, 3.0, 4.0], ifd=[0.5, 0.2, 0.9, 0.8])
    kept, _ = choose([0, 1, 2, 3], 2, scores, ["x"] * 4, {}, "none", None)
    assert kept == [1, 3]  # both A; IFD breaks nothing here, they are the two best


def test_quotas_are_met_and_shortfalls_reported() -> None:
    sources = ["a", "a", "a", "b", "b", "c", "c", "c", "c", "c"]
    scores = Scores(quality=[4.0] * 10)
    kept, groups = choose(list(range(10)), 6, scores, sources, {"a": 0.5, "b": 0.5}, "none", None)
    assert [sources[n] for n in kept].count("a") == 3
    assert [sources[n] for n in kept].count("b") == 2  # only two 'b' pairs: a shortfall
    assert groups["b"] == {"wanted": 3, "available": 2}
    # ... filled from what else passed, so the target is still met.
    assert len(kept) == 6 and [sources[n] for n in kept].count("c") == 1
    assert groups[SPILL] == {"wanted": 1, "available": 5}
    # Quotas that leave room: the other sources share the rest.
    kept, _ = choose(list(range(10)), 6, scores, sources, {"b": 0.5}, "none", None)
    assert [sources[n] for n in kept].count("b") == 2 and len(kept) == 6


def test_k_center_is_used_among_passing_rows() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((8, 4)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    asked: list[list[int]] = []

    def embeddings(rows: list[int]) -> np.ndarray:
        asked.append(list(rows))
        return vectors[rows]

    scores = Scores(quality=[1.0, 2.0, 4.0, 3.0, 1.0, 2.0, 3.0, 2.5])
    kept, _ = choose([1, 2, 3, 5, 6, 7], 3, scores, ["x"] * 8, {}, "k-center", embeddings)
    assert len(kept) == 3 and set(kept) <= {1, 2, 3, 5, 6, 7}
    assert 2 in kept  # the best-graded row is where k-center starts
    assert asked and set(asked[0]) == {1, 2, 3, 5, 6, 7}  # only passing rows are embedded


def test_near_ties_in_ifd_rank_by_row_not_by_rounding() -> None:
    """Two IFDs equal up to float rounding (another batch or machine) rank by row."""
    from herdsman.selection.choose import rank_key

    a, b = 0.4, 0.4 + 1e-12
    scores = Scores(quality=None, ifd=[a, b], length=None)
    assert sorted([0, 1], key=lambda n: rank_key(scores, n)) == [0, 1]
    swapped = Scores(quality=None, ifd=[b, a], length=None)
    assert sorted([0, 1], key=lambda n: rank_key(swapped, n)) == [0, 1]
