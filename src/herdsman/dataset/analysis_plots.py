"""Figures of ``herdsman analyze`` (matplotlib, headless Agg backend, PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display here or on CI; must precede pyplot

import matplotlib.pyplot as plt
import numpy as np

from herdsman.io.atomic import atomic_output

#: Stable colours per LaMini source, so figures of different datasets compare.
SOURCE_COLOURS = {
    "alpaca": "#1f77b4",
    "generated_flan": "#ff7f0e",
    "generated_p3": "#2ca02c",
    "original_flan": "#d62728",
    "original_p3": "#9467bd",
    "self_instruct_with_topic": "#8c564b",
    "self_instruct_without_topic": "#e377c2",
}
_EXTRA = ["#7f7f7f", "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896"]


def colour_of(source: str, others: list[str]) -> str:
    """The colour of a source (unknown sources take the spare colours in order)."""
    if source in SOURCE_COLOURS:
        return SOURCE_COLOURS[source]
    return _EXTRA[others.index(source) % len(_EXTRA)] if source in others else _EXTRA[0]


def _save(fig: plt.Figure, path: Path) -> Path:
    with atomic_output(path) as out:
        fig.savefig(out, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_composition(counts: dict[str, int], path: Path) -> Path:
    """Horizontal bars: examples per ``instruction_source``."""
    names = list(counts)
    others = [n for n in names if n not in SOURCE_COLOURS]
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(names) + 1.2))
    ax.barh(names, [counts[n] for n in names], color=[colour_of(n, others) for n in names])
    for i, n in enumerate(names):
        ax.text(counts[n], i, f" {counts[n]:,}", va="center")
    ax.set_xlabel("examples")
    ax.set_title("Composition by instruction_source")
    ax.invert_yaxis()
    return _save(fig, path)


def plot_lengths(ins: np.ndarray, res: np.ndarray, path: Path) -> Path:
    """Histograms of instruction and response lengths in words."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, lengths, what in ((axes[0], ins, "instruction"), (axes[1], res, "response")):
        top = max(1, int(np.percentile(lengths, 99))) if lengths.size else 1
        bins = np.linspace(0, top, min(50, top + 1))
        ax.hist(np.clip(lengths, 0, top), bins=bins, color="#4c72b0")
        ax.set_xlabel(f"{what} length (words; clipped at p99 = {top})")
        ax.set_ylabel("examples")
        ax.set_title(f"{what.capitalize()} lengths (n = {lengths.size:,})")
    return _save(fig, path)


def plot_tsne(points: np.ndarray, sources: list[str], path: Path) -> Path:
    """The diversity map: 2-D t-SNE of instruction embeddings coloured by source."""
    names = sorted(set(sources))
    others = [n for n in names if n not in SOURCE_COLOURS]
    fig, ax = plt.subplots(figsize=(8, 7))
    labels = np.asarray(sources)
    size = 4 if len(points) > 5000 else 14
    for name in names:
        mask = labels == name
        ax.scatter(
            points[mask, 0],
            points[mask, 1],
            s=size,
            alpha=0.6,
            color=colour_of(name, others),
            label=f"{name} ({int(mask.sum()):,})",
            linewidths=0,
        )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("Instruction embeddings (all-MiniLM-L6-v2), t-SNE")
    ax.legend(loc="best", fontsize=8, markerscale=2)
    return _save(fig, path)
