"""Imitation score: how close a model's answers are to the teacher's on held-out instructions.

Two views of the same comparison: ROUGE-L F-measure (word overlap, rouge-score's
tokenisation) and the cosine similarity of MiniLM sentence embeddings (meaning).
Each student is scored beside its base on the same instructions, so the gain
is what distillation bought.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rouge_score import rouge_scorer

from herdsman.dataset.embeddings import embed, load_embedder


@dataclass(frozen=True)
class ImitationScore:
    """Mean similarity of one model's answers to the teacher's."""

    model: str
    rouge_l: float
    embedding_similarity: float
    items: int


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
        scores.append(
            ImitationScore(
                model=name,
                rouge_l=float(np.mean(rouge_l(teacher_answers, answers))),
                embedding_similarity=float(np.mean(cosine_pairs(reference, vectors))),
                items=len(answers),
            )
        )
    return scores
