"""Figures of the HTML report (matplotlib Agg), returned as PNG bytes for embedding."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display here or on CI; must precede pyplot

import matplotlib.pyplot as plt

GRADE_COLOURS = {"A": "#2e7d32", "B": "#9ccc65", "C": "#ffb300", "D": "#d84315"}
FAMILY_MARKERS = {"causal": "o", "seq2seq": "s"}


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def scores_vs_parameters(models: list[dict[str, Any]]) -> bytes | None:
    """The paper's main figure: mean benchmark score against parameters, per architecture.

    Students are filled markers, bases hollow; a line joins each base to its student.
    """
    rows = [m for m in models if m.get("mean") is not None and m.get("parameters")]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.2))
    by_name = {m["name"]: m for m in rows}
    for m in rows:
        if m["role"] == "base" and m.get("base_of") in by_name:
            s = by_name[m["base_of"]]
            ax.plot([m["parameters"], s["parameters"]], [m["mean"], s["mean"]], color="#999", lw=1)
    for family, marker in FAMILY_MARKERS.items():
        for role, filled in (("student", True), ("model", True), ("base", False)):
            pts = [m for m in rows if m["architecture"] == family and m["role"] == role]
            if not pts:
                continue
            ax.scatter(
                [m["parameters"] for m in pts],
                [m["mean"] for m in pts],
                marker=marker,
                s=60,
                facecolors=("#3a6ee8" if family == "causal" else "#e8703a") if filled else "none",
                edgecolors="#3a6ee8" if family == "causal" else "#e8703a",
                label=f"{'decoder-only' if family == 'causal' else 'encoder-decoder'} {role}",
            )
    for m in rows:
        ax.annotate(m["name"], (m["parameters"], m["mean"]), fontsize=7, xytext=(4, 3),
                    textcoords="offset points")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel("mean score over tasks")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return _png(fig)


def grade_bars(counts: dict[str, dict[str, int]], title: str) -> bytes | None:
    """Stacked A-D shares per model (unparsed judge replies shown in grey)."""
    if not counts:
        return None
    models = list(counts)
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(models)))
    left = [0.0] * len(models)
    for key, colour in (*GRADE_COLOURS.items(), ("unparsed", "#bdbdbd")):
        totals = [sum(v for k, v in counts[m].items() if k != "failed") or 1 for m in models]
        shares = [counts[m].get(key, 0) / t for m, t in zip(models, totals, strict=True)]
        if key == "unparsed" and not any(shares):
            continue
        ax.barh(models, shares, left=left, color=colour, label=key)
        left = [a + b for a, b in zip(left, shares, strict=True)]
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of answers")
    ax.set_title(title, fontsize=10)
    ax.invert_yaxis()
    ax.legend(ncol=5, fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.08))
    return _png(fig)


def imitation_bars(scores: list[dict[str, Any]]) -> bytes | None:
    """ROUGE-L and embedding similarity to the teacher, per model."""
    if not scores:
        return None
    names = [s["model"] for s in scores]
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.5 * len(names)))
    ys = range(len(names))
    ax.barh([y - 0.2 for y in ys], [s["rouge_l"] for s in scores], height=0.4, label="ROUGE-L")
    ax.barh([y + 0.2 for y in ys], [s["embedding_similarity"] for s in scores], height=0.4,
            label="embedding similarity")  # fmt: skip
    ax.set_yticks(list(ys), names)
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.legend(fontsize=7)
    ax.set_xlabel("similarity to the teacher's answers (held-out split)")
    return _png(fig)
