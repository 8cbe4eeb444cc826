"""Controls a judge must pass on every run before its grades are believed.

A judge herdsman has never seen (a 135M model, a user's API model) may grade
a loop of tokens as highly as a good answer. So each judge run also grades,
with the same judge, prompts and run store, controlled answers to the same
instructions, built from the reference answers (the teacher's):

- ``reference``: the reference itself (a good answer);
- ``off_topic``: the reference answer of another instruction;
- ``truncated``: the reference cut to its first third;
- ``shuffled``: the reference's words in a random order;
- ``looping``: the reference's first few words repeated to its length.

Per degraded kind, the paired reference-minus-control difference of expected
grade points over the same items, with its 95% bootstrap interval; over all,
the AUC of good (reference) against degraded answers (the probability that a
random good answer gets more points than a random degraded one, ties counted
half), with a 95% interval from resampling items. **The judge passes when the
AUC's interval lies above 0.5 and every degraded kind scores below the
reference on average**; a judge that fails draws no verdict: its grades are
shown greyed and no student is said to be better or worse from them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np

from herdsman.evaluate.answer_sheets import AnswerSheet, Item
from herdsman.evaluate.intervals import LEVEL, SEED, paired_difference

#: The control answers, the good one first.
KINDS: tuple[str, ...] = ("reference", "off_topic", "truncated", "shuffled", "looping")
DEGRADED: tuple[str, ...] = KINDS[1:]
#: The model name a control answer is recorded under (``control:KIND``).
PREFIX = "control:"
AUC_RESAMPLES = 2000


def _words(text: str) -> list[str]:
    return text.split()


def truncated(text: str) -> str:
    """The first third of the words (at least one)."""
    words = _words(text)
    return " ".join(words[: max(1, len(words) // 3)])


def shuffled(text: str, seed: str) -> str:
    """The words in a random order (the same order for the same seed)."""
    words = _words(text)
    random.Random(seed).shuffle(words)
    return " ".join(words)


def looping(text: str) -> str:
    """The first few words, repeated to the answer's length: what a degenerate student writes."""
    words = _words(text)
    head = words[: max(2, min(5, len(words) // 4))] or ["the"]
    out = [head[i % len(head)] for i in range(max(len(words), 12))]
    return " ".join(out)


def control_sheet(items: list[Item], references: dict[str, str], n: int, seed: int) -> AnswerSheet:
    """The control answers of the first ``n`` items that have a reference (two at least).

    Off-topic answers come from the next chosen item (rotating), so each is a
    real answer, just to another instruction.
    """
    chosen = [i for i in items if references.get(i.id, "").strip()][:n]
    sheet = AnswerSheet()
    if len(chosen) < 2:
        return sheet
    for k, item in enumerate(chosen):
        ref = references[item.id]
        other = references[chosen[(k + 1) % len(chosen)].id]
        answers = {
            "reference": ref,
            "off_topic": other,
            "truncated": truncated(ref),
            "shuffled": shuffled(ref, f"{seed}:{item.id}"),
            "looping": looping(ref),
        }
        for kind in KINDS:
            sheet.add(item, PREFIX + kind, answers[kind])
    return sheet


def auc(good: list[float], bad: list[float]) -> float | None:
    """P(a good score > a bad score) + half the ties (Mann-Whitney), or ``None`` when empty."""
    if not good or not bad:
        return None
    g = np.asarray(good, dtype=float)[:, None]
    b = np.asarray(bad, dtype=float)[None, :]
    # Scores within 1e-9 are ties: the same grade computed in another order.
    wins = (g - b > 1e-9).mean() + 0.5 * (np.abs(g - b) <= 1e-9).mean()
    return float(wins)


def auc_interval(points: dict[tuple[str, str], float], items: list[str]) -> dict[str, Any] | None:
    """The AUC of reference vs degraded answers with a 95% interval from resampling items."""

    def scores(chosen: list[str]) -> tuple[list[float], list[float]]:
        good = [points[(i, "reference")] for i in chosen if (i, "reference") in points]
        bad = [points[(i, k)] for i in chosen for k in DEGRADED if (i, k) in points]
        return good, bad

    value = auc(*scores(items))
    if value is None:
        return None
    rng = np.random.default_rng(SEED)
    draws = []
    for _ in range(AUC_RESAMPLES):
        sample = [items[j] for j in rng.integers(0, len(items), len(items))]
        found = auc(*scores(sample))
        if found is not None:
            draws.append(found)
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail]) if draws else (value, value)
    return {"auc": value, "low": float(low), "high": float(high), "n": len(items)}


@dataclass
class ControlResult:
    """What the controls showed about one judge."""

    items: int
    differences: dict[str, dict[str, Any]]
    auc: dict[str, Any] | None
    passed: bool
    verdict: str
    mode: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (``judge.json``'s ``controls``)."""
        return {
            "items": self.items,
            "mode": self.mode,
            "differences": self.differences,
            "auc": self.auc,
            "passed": self.passed,
            "verdict": self.verdict,
        }


def evaluate_controls(judgements: list[Any], mode: str) -> ControlResult:
    """Paired differences, AUC and the verdict from the controls' judgements.

    Args:
        judgements: :class:`~herdsman.evaluate.judge.Judgement` of the control sheet.
        mode: ``rubric`` or ``reference-guided`` (said in the verdict).
    """
    points = {
        (j.item, j.model.removeprefix(PREFIX)): float(j.expected)
        for j in judgements
        if j.model.startswith(PREFIX) and j.expected is not None
    }
    items = sorted({i for i, _ in points})
    differences: dict[str, dict[str, Any]] = {}
    for kind in DEGRADED:
        both = [i for i in items if (i, "reference") in points and (i, kind) in points]
        diff = paired_difference(
            [points[(i, "reference")] for i in both], [points[(i, kind)] for i in both]
        )
        if diff is not None:
            differences[kind] = diff.as_dict()
    found = auc_interval(points, items) if items else None
    below = all(differences.get(k, {}).get("mean", 0.0) > 0 for k in DEGRADED)
    passed = bool(found and found["low"] > 0.5 and below and len(differences) == len(DEGRADED))
    if not items:
        verdict = "the judge's controls did not run (no reference answers): it draws no verdict"
    elif passed:
        verdict = (
            f"this judge separates good answers from degraded ones (AUC {found['auc']:.2f} "  # type: ignore[index]
            f"[{found['low']:.2f}, {found['high']:.2f}], n={found['n']}, {mode})"  # type: ignore[index]
        )
    else:
        shown = (
            f"AUC {found['auc']:.2f} [{found['low']:.2f}, {found['high']:.2f}], n={found['n']}"
            if found
            else "no AUC"
        )
        missed = [k for k in DEGRADED if differences.get(k, {}).get("mean", 0.0) <= 0]
        verdict = (
            f"this judge cannot tell good answers from degraded ones ({shown}, {mode}"
            + (f"; not lower than the reference: {', '.join(missed)}" if missed else "")
            + "): its grades draw no verdict"
        )
    return ControlResult(len(items), differences, found, passed, verdict, mode)
