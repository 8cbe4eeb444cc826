"""Training-data selection: IFD scoring throughput, and greedy k-center on 200,000 embeddings.

1. IFD with the embedded SmolLM2-135M-Instruct on CPU over real Alpaca pairs:
   pairs per second scored in length-sorted batches against one pair at a
   time (the baseline), and the largest difference between the two scores.
2. Greedy k-center choosing 10% of 200,000 unit embeddings. The embeddings are
   real MiniLM embeddings of the Alpaca instructions, Self-Instruct's seed and
   user-oriented instructions, each copied many times with a small random
   perturbation (renormalised): near-duplicates, as a large generated set has.
   Reported: time and peak memory of herdsman's batched rounds; the textbook
   one-pick-per-pass greedy rule on the first ``--check`` picks of the same
   data (the baseline: the same set of picks, time ratio printed); the mean
   pairwise cosine distance and the covering radius of the selected 10%
   against a random 10%.

Usage: python benchmarks/bench_select.py [--pairs 64] [--n 200000] [--share 0.1] [--check 2000]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tests.helpers
from herdsman.dataset.embeddings import embed, load_embedder
from herdsman.records import render_instruction
from herdsman.selection.ifd import IfdScorer
from herdsman.selection.kcenter import (
    covering_radius,
    kcenter_greedy,
    mean_pairwise_distance,
    quantize,
)
from tests.helpers.data import public_data


def alpaca_pairs(data: Path, n: int) -> list[tuple[str, str]]:
    rows = json.loads((data / "alpaca" / "alpaca_5000.json").read_text())[:n]
    return [(render_instruction(r["instruction"], r["input"]), r["output"]) for r in rows]


def real_instructions(data: Path) -> list[str]:
    texts = [
        r["instruction"] for r in json.loads((data / "alpaca" / "alpaca_5000.json").read_text())
    ]
    for name in ("seed_tasks.jsonl", "user_oriented_instructions.jsonl"):
        for line in (data / "self_instruct" / name).read_text().splitlines():
            texts.append(json.loads(line)["instruction"])
    return texts


def bench_ifd(data: Path, n: int, batch: int) -> None:
    pairs = alpaca_pairs(data, n)
    scorer = IfdScorer("smollm2-135m-instruct", max_length=512)
    scorer.score_batch(pairs[:2])  # warm-up
    order = sorted(range(n), key=lambda k: len(pairs[k][0]) + len(pairs[k][1]))
    start = time.perf_counter()
    batched: dict[int, float | None] = {}
    for s in range(0, n, batch):
        chunk = order[s : s + batch]
        for k, score in zip(chunk, scorer.score_batch([pairs[k] for k in chunk]), strict=True):
            batched[k] = score.ifd
    t_batched = time.perf_counter() - start
    start = time.perf_counter()
    single = [scorer.score_batch([p])[0].ifd for p in pairs]
    t_single = time.perf_counter() - start
    gap = max(abs((batched[k] or 0) - (single[k] or 0)) for k in range(n))
    print(f"IFD, SmolLM2-135M on CPU, {n} Alpaca pairs")
    print(f"  one at a time:  {n / t_single:6.2f} pairs/s")
    print(f"  batches of {batch}:  {n / t_batched:6.2f} pairs/s  ({t_single / t_batched:.2f}x)")
    print(f"  largest IFD difference batched vs single: {gap:.2e}")


def plain_greedy(x: np.ndarray, k: int, first: int) -> list[int]:
    """The textbook rule under the same tie rule: one pass over every row per pick,
    exact grid similarities, ties to the lowest row."""
    q = quantize(x)
    closest = np.full(x.shape[0], -np.inf, dtype=np.float32)
    chosen, current = [first], first
    for _ in range(1, k):
        np.maximum(closest, q @ q[current], out=closest)
        closest[chosen] = np.inf
        current = int(np.argmin(closest))
        chosen.append(current)
    return chosen


def bench_kcenter(data: Path, n: int, share: float, check: int) -> None:
    texts = real_instructions(data)
    start = time.perf_counter()
    base = embed(load_embedder(), texts, 64).astype(np.float32)
    print(f"\nembedded {len(texts)} real instructions in {time.perf_counter() - start:.0f} s")
    rng = np.random.default_rng(0)
    x = base[rng.integers(0, len(base), n)] + rng.normal(0, 0.02, (n, base.shape[1])).astype(
        np.float32
    )
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    k = int(n * share)
    tracemalloc.start()
    start = time.perf_counter()
    picked = kcenter_greedy(x, k, 0)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    reference = plain_greedy(x, check, 0)
    t_plain = time.perf_counter() - start
    start = time.perf_counter()
    ours = kcenter_greedy(x, check, 0)
    t_ours = time.perf_counter() - start
    random_rows = [int(r) for r in rng.choice(n, k, replace=False)]
    same_order = next(
        (i for i, (p, q) in enumerate(zip(reference, ours, strict=True)) if p != q), None
    )
    print(f"greedy k-center: {k:,} of {n:,} embeddings ({x.nbytes / 2**20:.0f} MiB)")
    print(f"  batched rounds: {seconds:.1f} s; memory the selection allocated at its peak "
          f"{peak / 2**20:.0f} MiB beside the embeddings (process peak RSS {rss_after:.0f} MiB)")  # fmt: skip
    print(f"  first {check:,} picks: plain greedy {t_plain:.1f} s, batched {t_ours:.1f} s "
          f"({t_plain / t_ours:.1f}x); same picks in the same order: "
          + ("yes" if same_order is None else f"NO, they part at pick {same_order}"))  # fmt: skip
    print(f"  mean pairwise cosine distance: selected {mean_pairwise_distance(x[picked]):.3f}, "
          f"random {mean_pairwise_distance(x[random_rows]):.3f}")  # fmt: skip
    print(f"  covering radius (largest cosine distance to the nearest kept): selected "
          f"{covering_radius(x, picked):.3f}, random {covering_radius(x, random_rows):.3f}")  # fmt: skip


def main() -> None:
    """Run both benchmarks and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--share", type=float, default=0.1)
    parser.add_argument("--check", type=int, default=2000)
    parser.add_argument("--data", type=Path, default=public_data())
    args = parser.parse_args()
    bench_ifd(args.data, args.pairs, args.batch)
    bench_kcenter(args.data, args.n, args.share, args.check)


if __name__ == "__main__":
    main()
