"""Intervals: bootstrap means, paired differences, and when a difference is not a finding."""

from __future__ import annotations

import numpy as np
import pytest

from herdsman.evaluate.intervals import bootstrap_mean, paired_difference, verdict

pytestmark = pytest.mark.numeric  # run again under the other BLAS kernel by `make test`


def test_a_mean_interval_covers_the_truth_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(200):
        sample = rng.binomial(1, 0.6, size=40).astype(float)
        interval = bootstrap_mean(sample)
        assert interval is not None and interval.low <= interval.mean <= interval.high
        hits += interval.low <= 0.6 <= interval.high
    assert 0.88 <= hits / 200 <= 0.99


def test_pairing_finds_what_two_separate_intervals_hide() -> None:
    rng = np.random.default_rng(1)
    difficulty = rng.uniform(0, 1, size=30)  # items differ a lot; the models differ a little
    base = difficulty
    student = difficulty + 0.05 + rng.normal(0, 0.01, size=30)
    a, b = bootstrap_mean(student), bootstrap_mean(base)
    assert a is not None and b is not None and a.low < b.high  # the two intervals overlap
    diff = paired_difference(student, base)
    assert diff is not None and diff.excludes_zero() and diff.n == 30
    assert verdict(diff).startswith("higher")


def test_noise_is_not_a_finding() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.uniform(0, 1, size=30), rng.uniform(0, 1, size=30)
    diff = paired_difference(a, b)
    assert diff is not None and not diff.excludes_zero()
    assert verdict(diff).startswith("cannot be told from zero")


def test_edges() -> None:
    assert bootstrap_mean([]) is None
    one = bootstrap_mean([0.5])
    assert one is not None and (one.low, one.high, one.n) == (0.5, 0.5, 1)
    with pytest.raises(ValueError, match="same items"):
        paired_difference([1.0, 2.0], [1.0])


def test_rounding_noise_is_no_finding() -> None:
    """Per-item differences that are rounding of one computation in two orders (1e-12 apart)
    give no finding, where a naive `low > 0` would call them one."""
    rng = np.random.default_rng(3)
    noise = 1e-12 + rng.uniform(0, 1e-12, size=40)
    diff = bootstrap_mean(noise)
    assert diff is not None and diff.low > 0  # the naive rule would say "higher"
    assert not diff.excludes_zero()
    assert diff.low == diff.high == diff.mean  # a constant up to rounding: nothing to resample
