"""Does the judge agree with people? Krippendorff's alpha between the LLM judge and human raters.

Units are answers (an item and a model) that both the judge graded and at
least one person rated; the people's grade of an answer is the median of
their grade points (A = 4 ... D = 1), the judge's is its grade's points. Alpha
is ordinal (A > B > C > D), per model and over all answers, with a 95%
interval from resampling answers and the number of answers behind it.
"""

from __future__ import annotations

from statistics import median
from typing import Any

import numpy as np

from herdsman.evaluate.intervals import LEVEL, RESAMPLES, SEED
from herdsman.evaluate.rubric import POINTS


def _alpha(judge: np.ndarray, people: np.ndarray) -> float | None:
    import krippendorff

    if len(judge) < 2 or len(np.unique(np.concatenate([judge, people]))) < 2:
        return None
    value = float(
        krippendorff.alpha(
            reliability_data=np.vstack([judge, people]), level_of_measurement="ordinal"
        )
    )
    return value if value == value else None


def _with_interval(judge: np.ndarray, people: np.ndarray) -> dict[str, Any]:
    alpha = _alpha(judge, people)
    out: dict[str, Any] = {"alpha": alpha, "low": None, "high": None, "n": len(judge)}
    if alpha is None:
        return out
    rng = np.random.default_rng(SEED)
    draws = []
    for _ in range(RESAMPLES // 4):  # krippendorff is slow per call; 500 resamples
        pick = rng.integers(0, len(judge), len(judge))
        value = _alpha(judge[pick], people[pick])
        if value is not None:
            draws.append(value)
    if draws:
        tail = (1 - LEVEL) / 2 * 100
        out["low"], out["high"] = (float(x) for x in np.percentile(draws, [tail, 100 - tail]))
    return out


def judge_vs_humans(
    judgements: list[dict[str, Any]], ratings: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """Alpha between the judge and the people, overall and per model (``None``: nothing shared).

    Args:
        judgements: ``judge.json``'s judgements (``item``, ``model``, ``grade``).
        ratings: The rating database's rows (``item``, ``model``, ``grade``).
    """
    people: dict[tuple[str, str], list[int]] = {}
    for r in ratings:
        if r.get("grade") in POINTS:
            people.setdefault((str(r["item"]), str(r["model"])), []).append(POINTS[r["grade"]])
    pairs = [
        (j["model"], POINTS[j["grade"]], float(median(people[(j["item"], j["model"])])))
        for j in judgements
        if j.get("grade") in POINTS and (j["item"], j["model"]) in people
    ]
    if not pairs:
        return None
    models = sorted({m for m, _, _ in pairs})

    def arrays(rows: list[tuple[str, int, float]]) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.asarray([j for _, j, _ in rows], dtype=float),
            np.asarray([p for _, _, p in rows], dtype=float),
        )

    return {
        "overall": _with_interval(*arrays(pairs)),
        "models": {m: _with_interval(*arrays([p for p in pairs if p[0] == m])) for m in models},
    }
