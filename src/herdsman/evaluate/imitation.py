"""Imitation score: how close a model's answers are to the teacher's on held-out instructions.

Two views of the same comparison: ROUGE-L F-measure (word overlap, rouge-score's
tokenisation) and the cosine similarity of MiniLM sentence embeddings (meaning).
Each student is scored beside its base on the same instructions, so the gain
is what distillation bought: each mean carries its 95% bootstrap interval over
items, and :func:`comparisons` gives the paired student-minus-base difference
with its own interval (:mod:`herdsman.evaluate.intervals`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rouge_score import rouge_scorer

from herdsman.dataset.embeddings import embed, load_embedder
from herdsman.evaluate.intervals import bootstrap_mean, paired_difference, verdict


@dataclass(frozen=True)
class ImitationScore:
    """Mean similarity of one model's answers to the teacher's, with 95% intervals.

    ``rouge_l_items`` and ``embedding_items`` are the per-item values, in the
    held-out order, so that models can be compared item by item.
    """

    model: str
    rouge_l: float
    embedding_similarity: float
    items: int
    rouge_l_ci: tuple[float, float] = (0.0, 0.0)
    embedding_ci: tuple[float, float] = (0.0, 0.0)
    rouge_l_items: tuple[float, ...] = field(default=(), repr=False)
    embedding_items: tuple[float, ...] = field(default=(), repr=False)


def rouge_l(references: list[str], predictions: list[str]) -> list[float]:
    """ROUGE-L F-measure per pair (no stemming, rouge-score's default tokeniser)."""
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    return [
        scorer.score(ref, pred)["rougeL"].fmeasure
        for ref, pred in zip(references, predictions, strict=True)
    ]


def cosine_pairs(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two equally shaped matrices."""
    norms = np.linalg.norm(left, axis=1) * np.linalg.norm(right, axis=1)
    dots = np.einsum("ij,ij->i", left, right)
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)


def imitation_scores(
    teacher_answers: list[str], model_answers: dict[str, list[str]], batch_size: int = 32
) -> list[ImitationScore]:
    """Score every model's answers against the teacher's, item by item, then average.

    Args:
        teacher_answers: The teacher's answer to each held-out instruction.
        model_answers: Model name -> its answers, in the same order.
        batch_size: Embedding batch size.
    """
    if not teacher_answers:
        return []
    embedder = load_embedder()
    reference = embed(embedder, teacher_answers, batch_size)
    scores = []
    for name, answers in model_answers.items():
        vectors = embed(embedder, [a or " " for a in answers], batch_size)
        overlap = rouge_l(teacher_answers, answers)
        meaning = [float(x) for x in cosine_pairs(reference, vectors)]
        r, e = bootstrap_mean(overlap), bootstrap_mean(meaning)
        assert r is not None and e is not None  # there are items
        scores.append(
            ImitationScore(
                model=name,
                rouge_l=r.mean,
                embedding_similarity=e.mean,
                items=len(answers),
                rouge_l_ci=(r.low, r.high),
                embedding_ci=(e.low, e.high),
                rouge_l_items=tuple(overlap),
                embedding_items=tuple(meaning),
            )
        )
    return scores


def comparisons(scores: list[ImitationScore], pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Paired student-minus-base differences on the same items, per measure, with intervals.

    Args:
        scores: Every model's scores (per-item values included).
        pairs: ``(student, base)`` names.
    """
    by_name = {s.model: s for s in scores}
    out = []
    for student, base in pairs:
        if student not in by_name or base not in by_name:
            continue
        a, b = by_name[student], by_name[base]
        rouge = paired_difference(a.rouge_l_items, b.rouge_l_items)
        meaning = paired_difference(a.embedding_items, b.embedding_items)
        if rouge is None or meaning is None:
            continue
        out.append(
            {
                "student": student,
                "base": base,
                "rouge_l": rouge.as_dict(),
                "embedding_similarity": meaning.as_dict(),
                "verdict": verdict(rouge, "ROUGE-L gain"),
            }
        )
    return out
