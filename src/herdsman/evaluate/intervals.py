"""Uncertainty for every score a user sees: a mean with its 95% interval, and paired differences.

A score on 30 held-out items is an estimate; two models' scores on the same
items differ by noise as well as by skill. Means get a percentile bootstrap
interval over items (scipy's :func:`scipy.stats.bootstrap`, seeded, so the
same numbers give the same interval); a comparison of two models on the same
items (a student and its base, a selected and a random subset) bootstraps the
per-item differences, which is far tighter than comparing two separate
intervals, and says in words when the difference cannot be told from zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

LEVEL = 0.95
RESAMPLES = 2000
SEED = 12345


#: Values closer than this to each other (or to zero) are equal: rounding, not data.
ZERO = 1e-9


@dataclass(frozen=True)
class Interval:
    """A mean, its 95% interval and the number of items behind it."""

    mean: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)

    def excludes_zero(self) -> bool:
        """Whether the interval lies wholly above or below zero.

        Bounds within :data:`ZERO` of zero count as zero: per-item values computed in
        another order (another batch, another BLAS kernel) differ by rounding, and an
        interval of rounding noise such as ``[1e-10, 3e-10]`` is no finding.
        """
        return self.low > ZERO or self.high < -ZERO

    def text(self, signed: bool = False) -> str:
        """``0.512 [0.431, 0.590], n=30`` (``+0.052 ...`` when ``signed``)."""
        fmt = "+.3f" if signed else ".3f"
        return f"{self.mean:{fmt}} [{self.low:.3f}, {self.high:.3f}], n={self.n}"


def bootstrap_mean(values: Sequence[float] | np.ndarray) -> Interval | None:
    """The mean of ``values`` with a 95% percentile-bootstrap interval (``None`` when empty)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return None
    mean = float(data.mean())
    if data.size < 2 or float(np.ptp(data)) <= ZERO:
        return Interval(mean, mean, mean, int(data.size))  # nothing to resample
    from scipy.stats import bootstrap

    result = bootstrap(
        (data,),
        np.mean,
        confidence_level=LEVEL,
        n_resamples=RESAMPLES,
        method="percentile",
        random_state=np.random.default_rng(SEED),
        vectorized=True,
    )
    low, high = result.confidence_interval
    return Interval(mean, float(low), float(high), int(data.size))


def paired_difference(
    left: Sequence[float] | np.ndarray, right: Sequence[float] | np.ndarray
) -> Interval | None:
    """Mean of ``left - right`` item by item, with its 95% bootstrap interval.

    Raises:
        ValueError: The two lists are not the same items (different lengths).
    """
    a, b = np.asarray(left, dtype=float), np.asarray(right, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired scores need the same items ({a.size} vs {b.size})")
    return bootstrap_mean(a - b)


def verdict(difference: Interval, what: str = "difference") -> str:
    """The comparison in words: a finding only when the interval excludes zero."""
    if difference.excludes_zero():
        direction = "higher" if difference.mean > 0 else "lower"
        return f"{direction} ({what} {difference.text(signed=True)})"
    return f"cannot be told from zero ({what} {difference.text(signed=True)})"
