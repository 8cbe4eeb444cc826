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

The dataset is read in passes, never held: the first pass checks every row
and keeps a few numbers per pair (its source label and word count); the
model scores read the pairs again a chunk at a time; the diversity step and
the report read back only the rows they need; the last pass writes the kept
rows. Memory grows with those per-pair numbers (and, with ``k-center``, the
embeddings of the pairs that passed the floors), not with the text.

Every input problem (a target larger than the data, a missing column, a
scorer that cannot load) is reported before any pair is scored. Judge calls
go through the run store and IFD scores through a cache file beside the
output, so an interrupted selection resumes without redoing finished work.
"""

from __future__ import annotations

import json
import math
import random
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
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
#: Pairs a model scorer (IFD, the judge) reads at a time.
CHUNK = 20_000


@dataclass
class Judge:
    """The teacher that grades pairs for the quality score, and the store its calls go through."""

    teacher: Teacher
    store: RunStore
    retries: int = 1


class Candidates:
    """The train split of a LaMini-format dataset, read in passes instead of held in memory.

    Constructing it reads the whole dataset once, checking every row (a bad
    row fails here, before any scoring), and keeps each train pair's source
    label and response word count. Texts are read again when needed.
    """

    def __init__(self, path: Path) -> None:
        from herdsman.dataset.read import iter_rows

        self.path = path
        labels: dict[str, str] = {}
        self.sources: list[str] = []  # one shared string per label
        self.words = array("i")
        self.held_out = 0
        for row in iter_rows(path):
            if row.get("split") == "held_out":
                self.held_out += 1
                continue
            source = str(row["instruction_source"])
            self.sources.append(labels.setdefault(source, source))
            self.words.append(len(row["response"].split()))

    def __len__(self) -> int:
        return len(self.sources)

    def _split(self, held_out: bool) -> Iterator[dict[str, Any]]:
        from herdsman.dataset.read import iter_rows

        # The held-out split's own file or part is all a held-out pass reads, where there is one.
        for row in iter_rows(self.path, "held_out" if held_out else None):
            if (row.pop("split", None) == "held_out") == held_out:
                yield row

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every train row in order, with all its columns (``split`` removed)."""
        return self._split(held_out=False)

    def held_out_rows(self) -> Iterator[dict[str, Any]]:
        """Every held-out row in order (``split`` removed)."""
        return self._split(held_out=True)

    def pair_chunks(self, size: int) -> Iterator[list[tuple[str, str]]]:
        """``(instruction, response)`` of every train row, ``size`` at a time, in order."""
        chunk: list[tuple[str, str]] = []
        for row in self.rows():
            chunk.append((str(row["instruction"]), str(row["response"])))
            if len(chunk) == size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def fetch(self, wanted: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The train rows at the given positions, in one pass."""
        todo = set(wanted)
        found: dict[int, dict[str, Any]] = {}
        if not todo:
            return found
        last = max(todo)
        for n, row in enumerate(self.rows()):
            if n in todo:
                found[n] = row
            if n >= last:
                break
        return found


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
    """Unit sentence embeddings of instructions, computed once per row on demand.

    The instructions of the rows asked for are read back from the dataset in
    one pass per call.
    """

    def __init__(self, candidates: Candidates, batch_size: int = 64) -> None:
        self.candidates, self.batch_size = candidates, batch_size
        self.model: Any = None
        self.done: dict[int, np.ndarray] = {}

    def __call__(self, rows: list[int]) -> np.ndarray:
        from herdsman.dataset.embeddings import embed, load_embedder

        missing = [n for n in rows if n not in self.done]
        if missing:
            if self.model is None:
                self.model = load_embedder()
            found = self.candidates.fetch(missing)
            texts = [str(found[n]["instruction"]) for n in missing]
            vectors = embed(self.model, texts, self.batch_size)
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
    candidates = Candidates(dataset)
    sources = candidates.sources
    target = target_size(cfg, len(candidates), where)
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
    scores = Scores()
    if "length" in cfg.scores:
        scores.length = candidates.words
    if ifd_scorer is not None:
        from herdsman.selection.ifd import read_cache, score_pairs

        log(f"  IFD: {len(candidates)} pairs with {ifd_scorer.name}")
        done = tick("IFD", len(candidates))
        cache = out / IFD_CACHE
        known = read_cache(cache)
        scores.ifd = []
        for chunk in candidates.pair_chunks(CHUNK):
            results = score_pairs(
                ifd_scorer, chunk, cache, cfg.scorer_batch_size, on_batch=done, known=known
            )
            scores.ifd += [r.ifd for r in results]
        del known
        ifd_scorer.close()
    if judge is not None and "quality" in cfg.scores:
        grader = judge if isinstance(judge, Judge) else judge()
        scores.quality = _judge_scores(candidates, grader, tick("judge", len(candidates)), log)
        judge = grader
    floors = Floors(cfg.min_quality, cfg.max_ifd if scores.ifd is not None else None, cfg.min_words)
    reasons = floor_reasons(scores, floors, len(candidates))
    passing = [n for n, r in enumerate(reasons) if r is None]
    if not passing:
        counts = ", ".join(f"{r}: {c}" for r, c in Counter(reasons).most_common())
        raise HerdsmanError(
            f"select: no training pair passed the score floors ({counts}); lower "
            "select.min_quality or min_words, or raise select.max_ifd (scores are cached: "
            "re-running costs nothing)"
        )
    embeddings = _Embeddings(candidates)
    if len(passing) > target and cfg.diversity == "k-center":
        log(f"  diversity: greedy k-center, {target} of {len(passing)} pairs")
    kept, groups = choose(passing, target, scores, sources, cfg.quotas, cfg.diversity, embeddings)
    kept_set = set(kept)
    for n in passing:
        if n not in kept_set:
            reasons[n] = NOT_CHOSEN
    report = _report(dataset, cfg, candidates, scores, reasons, kept, target, groups, embeddings)
    report["scorer"] = scorer if "ifd" in cfg.scores else None
    report["judge"] = judge.teacher.model if isinstance(judge, Judge) else None
    _write(out, candidates, scores, reasons, kept_set, report)
    return report


def _judge_scores(
    candidates: Candidates,
    judge: Judge,
    done: Callable[[int], None],
    log: Callable[[str], None],
) -> list[float | None]:
    from herdsman.evaluate.answer_sheets import AnswerSheet, Item
    from herdsman.evaluate.judge import grade_answers

    log(f"  judge: {len(candidates)} pairs graded by {judge.teacher.model}")
    grades: list[float | None] = []
    failed = 0
    for chunk in candidates.pair_chunks(CHUNK):
        first = len(grades)
        sheet = AnswerSheet()
        for n, (instruction, response) in enumerate(chunk, start=first):
            sheet.add(Item(str(n), instruction), "teacher", response)
        graded = grade_answers(
            sheet, judge.teacher, judge.store, judge.retries, on_progress=lambda: done(1)
        )
        failed += sum(j.status == "failed" for j in graded.judgements)
        by_item = {j.item: j.expected for j in graded.judgements}
        grades += [by_item.get(str(n)) for n in range(first, first + len(chunk))]
    if failed:
        raise IncompleteStage(f"select: {failed} judge calls failed; re-run to retry them")
    return grades


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
    candidates: Candidates,
    scores: Scores,
    reasons: list[str | None],
    kept: list[int],
    target: int,
    groups: dict[str | None, dict[str, int]],
    embeddings: _Embeddings,
) -> dict[str, Any]:
    from herdsman.selection.kcenter import mean_pairwise_distance

    sources = candidates.sources
    rng = random.Random(cfg.seed)
    baseline = sorted(rng.sample(range(len(candidates)), len(kept)))
    sample = 1000

    def sampled(rows: list[int]) -> list[int]:
        return rows if len(rows) <= sample else sorted(random.Random(0).sample(rows, sample))

    def spread(rows: list[int]) -> float | None:
        if len(rows) < 2:
            return None
        return mean_pairwise_distance(embeddings(sampled(rows)), sample=sample)

    if len(kept) >= 2:  # both samples embedded in one read of the dataset
        embeddings(sorted(set(sampled(kept)) | set(sampled(baseline))))
    before, after = Counter(sources), Counter(sources[n] for n in kept)
    kept_ranked = sorted(kept, key=lambda n: rank_key(scores, n))
    dropped: list[int] = []
    seen_reasons: set[str] = set()
    for n, reason in enumerate(reasons):  # one example per reason first, then more
        if reason and reason not in seen_reasons:
            seen_reasons.add(reason)
            dropped.append(n)
    listed = set(dropped)
    for n, reason in enumerate(reasons):
        if len(dropped) >= cfg.examples:
            break
        if reason and n not in listed:
            dropped.append(n)
    kept_examples, dropped_examples = kept_ranked[: cfg.examples], dropped[: cfg.examples]
    rows = candidates.fetch([*kept_examples, *dropped_examples])
    return {
        "input": str(dataset),
        "candidates": len(candidates),
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
            "kept": [_example(rows[n], _row_scores(scores, n), None) for n in kept_examples],
            "dropped": [
                _example(rows[n], _row_scores(scores, n), reasons[n]) for n in dropped_examples
            ],
        },
        "settings": cfg.model_dump(mode="json", exclude={"ablation", "enabled"}),
    }


def _write(
    out: Path,
    candidates: Candidates,
    scores: Scores,
    reasons: list[str | None],
    kept: set[int],
    report: dict[str, Any],
) -> None:
    from herdsman.selection.card import render_selection_card

    out.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(
        out / TRAIN,
        ({**row, **_row_scores(scores, n)} for n, row in enumerate(candidates.rows()) if n in kept),
    )
    # Empty when the input had no held-out split.
    write_jsonl_atomic(out / HELD_OUT, candidates.held_out_rows())
    write_jsonl_atomic(
        out / SCORES,
        (
            {
                "row": n,
                "instruction_source": source,
                **_row_scores(scores, n),
                "kept": n in kept,
                **({"reason": reasons[n]} if reasons[n] else {}),
            }
            for n, source in enumerate(candidates.sources)
        ),
    )
    write_text_atomic(out / CARD, render_selection_card(report))
    write_text_atomic(out / SELECTION, json.dumps(report, indent=1))
