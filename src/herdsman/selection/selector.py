"""``herdsman select``: score every training pair, keep a good and diverse subset, say why.

Reads a LaMini-format dataset (a herdsman ``dataset/`` folder, JSONL,
Parquet or a Hugging Face folder). Only the train split is a candidate; the
held-out split is copied unchanged, so an evaluation after selection uses the
same items as one before it. Writes, in the output folder:

- ``train.jsonl``: the kept pairs with their scores as columns
  (``score_quality``, ``score_ifd``, ``score_length``), in their input order;
- ``held_out.jsonl``: the input's held-out split (empty when it has none);
- ``scores.jsonl``: every candidate's scores, whether it was kept, and why not;
- ``selection.json``: counts by source before and after, score distributions,
  the diversity of the kept set against a random subset of the same size,
  and a few kept and dropped examples; ``README.md``: the same as a card.

Every input problem (a target larger than the data, a missing column, a
scorer that cannot load) is reported before any pair is scored. Judge calls
go through the run store and IFD scores through a cache file beside the
output, so an interrupted selection resumes without redoing finished work.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from herdsman.config import SelectConfig
from herdsman.errors import HerdsmanError, IncompleteStage, InputError
from herdsman.io.atomic import write_text_atomic
from herdsman.io.jsonl import write_jsonl_atomic
from herdsman.selection.choose import (
    NOT_CHOSEN,
    Floors,
    Scores,
    choose,
    floor_reasons,
    rank_key,
)

if TYPE_CHECKING:
    from herdsman.store.run_store import RunStore
    from herdsman.teachers.base import Teacher

TRAIN = "train.jsonl"
HELD_OUT = "held_out.jsonl"
SCORES = "scores.jsonl"
SELECTION = "selection.json"
CARD = "README.md"
IFD_CACHE = Path(".cache") / "ifd.jsonl"
#: Score columns added to the kept rows.
COLUMNS = {"quality": "score_quality", "ifd": "score_ifd", "length": "score_length"}
EXAMPLE_CHARS = 300


@dataclass
class Judge:
    """The teacher that grades pairs for the quality score, and the store its calls go through."""

    teacher: Teacher
    store: RunStore
    retries: int = 1


def read_candidates(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Train rows (the candidates) and held-out rows of a LaMini-format dataset.

    Raises:
        InputError: Unreadable data or missing ``instruction``/``response`` columns.
    """
    from herdsman.dataset.read import read_dataset

    frame = read_dataset(path)
    records: list[dict[str, Any]] = frame.to_dict("records")
    if "split" not in frame.columns:
        return records, []
    train: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    for row in records:
        split = row.pop("split")
        (held if split == "held_out" else train).append(row)
    return train, held


def target_size(cfg: SelectConfig, candidates: int, where: str) -> int:
    """How many pairs to keep.

    Raises:
        InputError: A target of more pairs than there are, or none at all.
    """
    if candidates == 0:
        raise InputError(where, None, "no training pairs to select from")
    if cfg.size is not None:
        if cfg.size > candidates:
            raise InputError(
                where,
                None,
                f"select.size {cfg.size} is more than the {candidates} training pairs "
                "(lower it, or use select.fraction)",
            )
        return cfg.size
    if cfg.fraction is None:
        raise InputError(where, None, "select: give 'size' or 'fraction'")
    return max(1, math.floor(cfg.fraction * candidates))


def check_quotas(cfg: SelectConfig, sources: list[str], where: str) -> None:
    """Every quota names a source that is in the data.

    Raises:
        InputError: A quota for a source with no pairs.
    """
    present = set(sources)
    for source in cfg.quotas:
        if source not in present:
            known = ", ".join(sorted(present)[:8])
            raise InputError(
                where, None, f"select.quotas.{source}: no pairs from that source (sources: {known})"
            )


def _summary(values: list[float | None] | list[int] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    data = np.asarray([v for v in values if v is not None], dtype=float)
    if data.size == 0:
        return {"n": 0}
    counts, edges = np.histogram(data, bins=10)
    p10, p50, p90 = np.percentile(data, [10, 50, 90])
    return {
        "n": int(data.size),
        "mean": float(data.mean()),
        "min": float(data.min()),
        "p10": float(p10),
        "median": float(p50),
        "p90": float(p90),
        "max": float(data.max()),
        "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
    }


def _subset(values: Any, rows: list[int]) -> Any:
    return None if values is None else [values[n] for n in rows]


def _short(text: Any) -> str:
    text = str(text)
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…"


def _example(row: dict[str, Any], scores: dict[str, Any], reason: str | None) -> dict[str, Any]:
    return {
        "instruction": _short(row["instruction"]),
        "response": _short(row["response"]),
        "instruction_source": row.get("instruction_source", ""),
        "scores": scores,
        **({"reason": reason} if reason else {}),
    }


class _Embeddings:
    """Unit sentence embeddings of instructions, computed once per row on demand."""

    def __init__(self, texts: list[str], batch_size: int = 64) -> None:
        self.texts, self.batch_size = texts, batch_size
        self.model: Any = None
        self.done: dict[int, np.ndarray] = {}

    def __call__(self, rows: list[int]) -> np.ndarray:
        from herdsman.dataset.embeddings import embed, load_embedder

        missing = [n for n in rows if n not in self.done]
        if missing:
            if self.model is None:
                self.model = load_embedder()
            vectors = embed(self.model, [self.texts[n] for n in missing], self.batch_size)
            for n, vector in zip(missing, vectors, strict=True):
                self.done[n] = vector.astype(np.float32)
        return np.stack([self.done[n] for n in rows]) if rows else np.zeros((0, 384), np.float32)


def select_dataset(
    dataset: Path,
    out: Path,
    cfg: SelectConfig,
    *,
    scorer: str | None = None,
    judge: Judge | Callable[[], Judge] | None = None,
    log: Callable[[str], None] = print,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
) -> dict[str, Any]:
    """Score the train split of ``dataset``, keep a subset, write it to ``out``.

    Args:
        dataset: The LaMini-format dataset.
        out: The output folder (see the module docstring).
        cfg: What to score and keep.
        scorer: The IFD scorer model (a student base), when ``ifd`` is scored.
        judge: The judge, when ``quality`` is scored (or a function that builds
            it: called after IFD scoring, so that a GPU teacher and the scorer
            model are never in memory together).
        log: Where progress lines go.
        progress: ``progress(label, total)`` returns a function called with each finished count.

    Returns:
        The selection report (also written to ``selection.json``).

    Raises:
        InputError: A problem with the data or the settings (before any scoring).
        HerdsmanError: The scorer cannot load.
        HerdsmanError: No pair passed the floors.
        IncompleteStage: Judge calls failed (re-running retries them).
    """
    where = str(dataset)
    train, held = read_candidates(dataset)
    sources = [str(r.get("instruction_source") or "unlabelled") for r in train]
    target = target_size(cfg, len(train), where)
    check_quotas(cfg, sources, where)
    if "quality" in cfg.scores and judge is None:
        raise HerdsmanError("select: the quality score needs a judge (a teacher)")
    ifd_scorer = None
    if "ifd" in cfg.scores:
        if not scorer:
            raise HerdsmanError("select: the IFD score needs a scorer model (select.scorer)")
        from herdsman.selection.ifd import IfdScorer

        ifd_scorer = IfdScorer(scorer, cfg.scorer_max_length)  # fails before any scoring
    tick = progress or (lambda label, total: lambda n: None)
    pairs = [(str(r["instruction"]), str(r["response"])) for r in train]
    scores = Scores()
    if "length" in cfg.scores:
        scores.length = [len(response.split()) for _, response in pairs]
    if ifd_scorer is not None:
        from herdsman.selection.ifd import score_pairs

        log(f"  IFD: {len(pairs)} pairs with {ifd_scorer.name}")
        done = tick("IFD", len(pairs))
        results = score_pairs(
            ifd_scorer, pairs, out / IFD_CACHE, cfg.scorer_batch_size, on_batch=done
        )
        scores.ifd = [r.ifd for r in results]
        ifd_scorer.close()
    if judge is not None and "quality" in cfg.scores:
        grader = judge if isinstance(judge, Judge) else judge()
        scores.quality = _judge_scores(pairs, grader, tick("judge", len(pairs)), log)
        judge = grader
    floors = Floors(cfg.min_quality, cfg.max_ifd if scores.ifd is not None else None, cfg.min_words)
    reasons = floor_reasons(scores, floors, len(train))
    passing = [n for n, r in enumerate(reasons) if r is None]
    if not passing:
        counts = ", ".join(f"{r}: {c}" for r, c in Counter(reasons).most_common())
        raise HerdsmanError(
            f"select: no training pair passed the score floors ({counts}); lower "
            "select.min_quality or min_words, or raise select.max_ifd (scores are cached: "
            "re-running costs nothing)"
        )
    embeddings = _Embeddings([p[0] for p in pairs])
    if len(passing) > target and cfg.diversity == "k-center":
        log(f"  diversity: greedy k-center, {target} of {len(passing)} pairs")
    kept, groups = choose(passing, target, scores, sources, cfg.quotas, cfg.diversity, embeddings)
    kept_set = set(kept)
    for n in passing:
        if n not in kept_set:
            reasons[n] = NOT_CHOSEN
    report = _report(
        dataset, cfg, train, sources, scores, reasons, kept, target, groups, embeddings
    )
    report["scorer"] = scorer if "ifd" in cfg.scores else None
    report["judge"] = judge.teacher.model if isinstance(judge, Judge) else None
    _write(out, train, held, scores, reasons, kept, report)
    return report


def _judge_scores(
    pairs: list[tuple[str, str]],
    judge: Judge,
    done: Callable[[int], None],
    log: Callable[[str], None],
) -> list[float | None]:
    from herdsman.evaluate.answer_sheets import AnswerSheet, Item
    from herdsman.evaluate.judge import grade_answers

    sheet = AnswerSheet()
    for n, (instruction, response) in enumerate(pairs):
        sheet.add(Item(str(n), instruction), "teacher", response)
    log(f"  judge: {len(pairs)} pairs graded by {judge.teacher.model}")
    graded = grade_answers(
        sheet, judge.teacher, judge.store, judge.retries, on_progress=lambda: done(1)
    )
    failed = sum(j.status == "failed" for j in graded.judgements)
    if failed:
        raise IncompleteStage(f"select: {failed} judge calls failed; re-run to retry them")
    by_item = {j.item: j.expected for j in graded.judgements}
    return [by_item.get(str(n)) for n in range(len(pairs))]


def _row_scores(scores: Scores, n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("quality", "ifd", "length"):
        values = getattr(scores, name)
        if values is not None:
            value = values[n]
            out[COLUMNS[name]] = round(value, 6) if isinstance(value, float) else value
    return out


def _report(
    dataset: Path,
    cfg: SelectConfig,
    train: list[dict[str, Any]],
    sources: list[str],
    scores: Scores,
    reasons: list[str | None],
    kept: list[int],
    target: int,
    groups: dict[str | None, dict[str, int]],
    embeddings: _Embeddings,
) -> dict[str, Any]:
    from herdsman.selection.kcenter import mean_pairwise_distance

    rng = random.Random(cfg.seed)
    baseline = sorted(rng.sample(range(len(train)), len(kept)))
    sample = 1000

    def spread(rows: list[int]) -> float | None:
        if len(rows) < 2:
            return None
        picked = rows if len(rows) <= sample else sorted(random.Random(0).sample(rows, sample))
        return mean_pairwise_distance(embeddings(picked), sample=sample)

    before, after = Counter(sources), Counter(sources[n] for n in kept)
    kept_ranked = sorted(kept, key=lambda n: rank_key(scores, n))
    dropped: list[int] = []
    seen_reasons: set[str] = set()
    for n, reason in enumerate(reasons):  # one example per reason first, then more
        if reason and reason not in seen_reasons:
            seen_reasons.add(reason)
            dropped.append(n)
    listed = set(dropped)
    dropped += [n for n, r in enumerate(reasons) if r and n not in listed]
    return {
        "input": str(dataset),
        "candidates": len(train),
        "target": target,
        "kept": len(kept),
        "passed_floors": sum(r is None or r == NOT_CHOSEN for r in reasons),
        "dropped": dict(Counter(r for r in reasons if r).most_common()),
        "floors": {
            "min_quality": cfg.min_quality,
            "max_ifd": cfg.max_ifd if scores.ifd is not None else None,
            "min_words": cfg.min_words,
        },
        "diversity": {
            "method": cfg.diversity,
            "mean_cosine_distance_kept": spread(kept),
            "mean_cosine_distance_random": spread(baseline),
            "sample": sample,
        },
        "by_source": {s: {"before": before[s], "after": after.get(s, 0)} for s in sorted(before)},
        "quotas": {(k if k is not None else "(other sources)"): v for k, v in groups.items()}
        if cfg.quotas
        else {},
        "scores": {
            name: {
                "all": _summary(getattr(scores, name)),
                "kept": _summary(_subset(getattr(scores, name), kept)),
            }
            for name in ("quality", "ifd", "length")
            if getattr(scores, name) is not None
        },
        "examples": {
            "kept": [
                _example(train[n], _row_scores(scores, n), None)
                for n in kept_ranked[: cfg.examples]
            ],
            "dropped": [
                _example(train[n], _row_scores(scores, n), reasons[n])
                for n in dropped[: cfg.examples]
            ],
        },
        "settings": cfg.model_dump(mode="json", exclude={"ablation", "enabled"}),
    }


def _write(
    out: Path,
    train: list[dict[str, Any]],
    held: list[dict[str, Any]],
    scores: Scores,
    reasons: list[str | None],
    kept: list[int],
    report: dict[str, Any],
) -> None:
    from herdsman.selection.card import render_selection_card

    out.mkdir(parents=True, exist_ok=True)
    kept_set = set(kept)
    write_jsonl_atomic(out / TRAIN, ({**train[n], **_row_scores(scores, n)} for n in kept))
    write_jsonl_atomic(out / HELD_OUT, held)  # empty when the input had no held-out split
    write_jsonl_atomic(
        out / SCORES,
        (
            {
                "row": n,
                "instruction_source": row.get("instruction_source", ""),
                **_row_scores(scores, n),
                "kept": n in kept_set,
                **({"reason": reasons[n]} if reasons[n] else {}),
            }
            for n, row in enumerate(train)
        ),
    )
    write_text_atomic(out / CARD, render_selection_card(report))
    write_text_atomic(out / SELECTION, json.dumps(report, indent=1))
