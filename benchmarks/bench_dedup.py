"""herdsman's dedup vs the exhaustive rouge-score rule, and its scaling.

1. The 5,000 Alpaca instructions in the public test data (docs/testing.md): keep/drop decisions of
   ``herdsman.generation.dedup`` vs the exhaustive Self-Instruct rule (exact duplicates
   first, then ROUGE-L F > 0.7 against every earlier kept instruction, scored
   by rouge-score's own ``_score_lcs`` on its own tokenisation; tokens are
   computed once per instruction, which makes the baseline faster than
   Self-Instruct's code, and it runs on 2 processes). Agreement and the speed
   ratio are printed.
2. Scaling: time for 50,000 real texts vs the first 5,000 of them (sentences
   and prompts from Alpaca, P3 and Self-Instruct in the public test data (docs/testing.md)).

Usage: python benchmarks/bench_dedup.py [--data DIR] [--skip-exhaustive]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
from multiprocessing import Pool
from pathlib import Path

from rouge_score.rouge_scorer import _score_lcs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tests.helpers
from herdsman.generation.dedup import dedup_texts, normalise, rouge_tokens
from tests.helpers.data import public_data

THRESHOLD = 0.7
_TOKENS: list[list[str]] = []


def _scores_against(args: tuple[int, list[int]]) -> bool:
    """True when text ``i`` is a near duplicate of any kept index (rouge-score's scoring)."""
    i, kept = args
    mine = _TOKENS[i]
    return any(_score_lcs(_TOKENS[j], mine).fmeasure > THRESHOLD for j in kept)


def _init(tokens: list[list[str]]) -> None:
    global _TOKENS
    _TOKENS = tokens


def exhaustive(texts: list[str], workers: int = 2) -> list[bool]:
    """Self-Instruct's rule, exhaustively; returns keep flags."""
    tokens = [rouge_tokens(t) for t in texts]
    keep: list[bool] = []
    kept: list[int] = []
    exact: set[str] = set()
    with Pool(workers, initializer=_init, initargs=(tokens,)) as pool:
        for i, text in enumerate(texts):
            key = normalise(text)
            if key in exact:
                keep.append(False)
                continue
            chunks = [kept[w::workers] for w in range(workers)]
            dup = any(pool.map(_scores_against, [(i, c) for c in chunks]))
            keep.append(not dup)
            if not dup:
                kept.append(i)
                exact.add(key)
    return keep


def scaling_pool(data: Path, size: int) -> list[str]:
    """``size`` real texts: instructions, inputs, output sentences and P3 prompts, shuffled."""
    texts: list[str] = []
    for row in json.loads((data / "alpaca" / "alpaca_5000.json").read_text()):
        texts += [row["instruction"], row["input"]]
        texts += re.split(r"(?<=[.!?])\s+", row["output"])
    for line in (data / "self_instruct" / "seed_tasks.jsonl").read_text().splitlines():
        texts.append(json.loads(line)["instruction"])
    for path in sorted((data / "p3_templates").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            prompt = json.loads(line)["prompt"]
            texts.append(prompt)
            texts += re.split(r"(?<=[.!?])\s+", prompt)
    texts = [t.strip() for t in texts if len(t.split()) >= 3]
    random.Random(42).shuffle(texts)
    if len(texts) < size:
        raise SystemExit(f"only {len(texts)} texts available")
    return texts[:size]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=public_data())
    parser.add_argument("--skip-exhaustive", action="store_true")
    args = parser.parse_args()

    alpaca = [
        r["instruction"]
        for r in json.loads((args.data / "alpaca" / "alpaca_5000.json").read_text())
    ]
    started = time.perf_counter()
    decisions, stats = dedup_texts(alpaca, THRESHOLD)
    fast_s = time.perf_counter() - started
    print(
        f"herdsman dedup, 5,000 Alpaca instructions: {fast_s:.2f} s; kept {stats.kept}, exact {stats.exact}, near {stats.near}"
    )
    if not args.skip_exhaustive:
        started = time.perf_counter()
        reference = exhaustive(alpaca)
        slow_s = time.perf_counter() - started
        agree = sum(d.kept == r for d, r in zip(decisions, reference, strict=True))
        print(f"exhaustive rouge-score rule (2 processes): {slow_s:.1f} s; kept {sum(reference)}")
        print(
            f"  identical decisions: {agree}/{len(alpaca)} = {agree / len(alpaca):.4%}  (target >= 99.5%)"
        )
        print(f"  speed-up           : {slow_s / fast_s:.1f}x  (target >= 50x)")

    pool = scaling_pool(args.data, 50_000)
    small_runs = []
    for _ in range(3):  # the short run is the noisy one on a shared machine: median of 3
        started = time.perf_counter()
        dedup_texts(pool[:5_000], THRESHOLD)
        small_runs.append(time.perf_counter() - started)
    small_s = statistics.median(small_runs)
    started = time.perf_counter()
    _, large_stats = dedup_texts(pool, THRESHOLD)
    large_s = time.perf_counter() - started
    print(
        f"scaling: 5,000 texts {small_s:.2f} s, 50,000 texts {large_s:.2f} s (kept {large_stats.kept}, near {large_stats.near}, exact {large_stats.exact})"
    )
    print(f"  time ratio 50k/5k  : {large_s / small_s:.1f}x  (target <= 15x; linear would be 10x)")


if __name__ == "__main__":
    main()
