"""Which pairs to keep: score floors first, then diversity among what passes, per source quota.

Pure functions over score arrays and embeddings, so that the rule can be
tested without any model: :func:`floor_reasons` says why each pair fails a
floor (or passes), :func:`choose` returns the kept rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from herdsman.selection.kcenter import kcenter_greedy

#: Why a pair was not kept.
BELOW_QUALITY = "quality below the floor"
NO_QUALITY = "not graded by the judge"
ABOVE_IFD = "IFD at or above the ceiling"
NO_IFD = "no IFD (empty response)"
TOO_SHORT = "response below the word floor"
NOT_CHOSEN = "passed the floors, not chosen"


@dataclass(frozen=True)
class Floors:
    """Score floors (``None``: no floor on that score)."""

    min_quality: float | None = None
    max_ifd: float | None = None
    min_words: int | None = None


@dataclass
class Scores:
    """One value per candidate pair for each computed score (``None``: could not be computed)."""

    quality: list[float | None] | None = None
    ifd: list[float | None] | None = None
    length: Sequence[int] | None = None
    extra: dict[str, list[float | None]] = field(default_factory=dict)


#: Decimals a score is compared at (the precision scores.jsonl records).
IFD_DIGITS = 6


def floor_reasons(scores: Scores, floors: Floors, count: int) -> list[str | None]:
    """For each pair, the first floor it fails (``None``: passes every floor)."""
    reasons: list[str | None] = [None] * count
    for n in range(count):
        if scores.quality is not None and floors.min_quality is not None:
            q = scores.quality[n]
            if q is None:
                reasons[n] = NO_QUALITY
                continue
            if q < floors.min_quality:
                reasons[n] = BELOW_QUALITY
                continue
        if scores.ifd is not None and floors.max_ifd is not None:
            value = scores.ifd[n]
            if value is None:
                reasons[n] = NO_IFD
                continue
            if round(value, IFD_DIGITS) >= floors.max_ifd:
                reasons[n] = ABOVE_IFD
                continue
        if (
            scores.length is not None
            and floors.min_words is not None
            and scores.length[n] < floors.min_words
        ):
            reasons[n] = TOO_SHORT
    return reasons


def rank_key(scores: Scores, n: int) -> tuple[float, float, int]:
    """Sort key, best first: higher judge grade, then higher IFD (harder, below the ceiling)."""
    q = scores.quality[n] if scores.quality is not None else None
    d = scores.ifd[n] if scores.ifd is not None else None
    # Rounded as written to scores.jsonl: a near-tie computed in another order (another
    # batch or machine) must not reorder the ranking, so rounding ties go to the lower row.
    q = None if q is None else round(q, IFD_DIGITS)
    d = None if d is None else round(d, IFD_DIGITS)
    return (-(q if q is not None else -math.inf), -(d if d is not None else -math.inf), n)


def quota_counts(
    target: int, sources: Sequence[str], quotas: dict[str, float]
) -> dict[str | None, int]:
    """Pairs to keep per quota'd source, and the rest (key ``None``) for all other sources."""
    counts: dict[str | None, int] = {s: round(share * target) for s, share in quotas.items()}
    taken = sum(counts.values())
    if taken > target:  # rounding: take the excess from the largest quota
        largest = max(quotas, key=lambda s: quotas[s])
        counts[largest] -= taken - target
        taken = target
    others = {s for s in sources if s not in quotas}
    counts[None] = target - taken if others else 0
    return counts


def choose(
    passing: Sequence[int],
    target: int,
    scores: Scores,
    sources: Sequence[str],
    quotas: dict[str, float],
    diversity: str,
    embeddings: Callable[[list[int]], np.ndarray] | None,
) -> tuple[list[int], dict[str | None, dict[str, int]]]:
    """The rows to keep among ``passing`` (row indices), and per quota group: wanted, available.

    With quotas, a group that has fewer passing pairs than its share leaves
    the rest of the target to the pairs of any source that passed.

    Args:
        passing: Rows that passed every floor.
        target: How many to keep in all.
        scores: The scores (for the starting point and for ``diversity: none``).
        sources: ``instruction_source`` of every row.
        quotas: Share of the target per source (others share what is left).
        diversity: ``k-center`` (greedy over sentence embeddings) or ``none`` (best ranked).
        embeddings: Unit embeddings of the given rows (needed for ``k-center``).
    """
    groups: dict[str | None, list[int]] = {}
    for n in passing:
        key: str | None = sources[n] if sources[n] in quotas else None
        groups.setdefault(key, []).append(n)
    wanted = quota_counts(target, sources, quotas) if quotas else {None: target}
    kept: list[int] = []
    shortfall: dict[str | None, dict[str, int]] = {}
    for key, want in wanted.items():
        rows = groups.get(key, [])
        shortfall[key] = {"wanted": want, "available": len(rows)}
        kept += _pick(rows, want, scores, diversity, embeddings)
    if quotas and len(kept) < target:
        # A group with fewer passing pairs than its share: the rest of the target
        # comes from whatever else passed, so the target is met when it can be.
        taken = set(kept)
        rest = [n for n in passing if n not in taken]
        extra = _pick(rest, target - len(kept), scores, diversity, embeddings)
        shortfall[SPILL] = {"wanted": target - len(kept), "available": len(rest)}
        kept += extra
    return sorted(kept), shortfall


#: The quota report's entry for pairs taken beyond the groups' shares.
SPILL = "(filled from other sources)"


def _pick(
    rows: Sequence[int],
    want: int,
    scores: Scores,
    diversity: str,
    embeddings: Callable[[list[int]], np.ndarray] | None,
) -> list[int]:
    """``want`` of ``rows``: all when there are no more, else by k-center or by rank."""
    if want <= 0:
        return []
    ranked = sorted(rows, key=lambda n: rank_key(scores, n))
    if len(ranked) <= want:
        return ranked
    if diversity == "none" or embeddings is None:
        return ranked[:want]
    return [ranked[i] for i in kcenter_greedy(embeddings(ranked), want, first=0)]
