"""Run store at the paper's scale: inserts and lookups per second at 3M keys, and the file size.

Writes N call results (default 3,000,000; SHA-256 keys as :func:`call_key`
makes them, answers of about 600 bytes, like a LaMini response) through
:meth:`RunStore.put_many` in transactions of 1,000 rows (what a high-throughput
backend commits at once), then looks up random keys with
:meth:`RunStore.done_keys` in chunks of 1,000 (what :func:`herdsman.store.calls.pending`
does when a stage resumes). Baselines measured in the same run: the same
lookups on the first 100,000 rows (is there a slowdown with size?) and
one-row commits (what the openai backend does as each answer lands).

Usage: python benchmarks/bench_store.py [--rows 3000000] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import tempfile
import time
from pathlib import Path

from herdsman.store.run_store import CallResult, RunStore

ANSWER = (
    "Here are three practical ways to reduce energy use at home: switch to LED bulbs, which use "
    "about a quarter of the electricity of incandescent ones; seal gaps around doors and windows "
    "so heating and cooling are not wasted; and unplug chargers and devices on standby. "
) * 2


def key(n: int) -> str:
    """The n-th synthetic call key (same shape as call_key's SHA-256 hex)."""
    return hashlib.sha256(n.to_bytes(8, "big")).hexdigest()


def result(n: int) -> CallResult:
    """A realistic finished call."""
    return CallResult(
        key=key(n), stage="respond", teacher="openai", model="gpt-4o-mini", status="ok",
        text=ANSWER, finish_reason="stop", prompt_tokens=60, completion_tokens=130,
        cost=0.0001, error=None, attempts=1,
    )  # fmt: skip


def insert(store: RunStore, start: int, stop: int, batch: int) -> float:
    """Rows per second putting rows [start, stop) in transactions of ``batch``."""
    began = time.perf_counter()
    for first in range(start, stop, batch):
        store.put_many([result(n) for n in range(first, min(stop, first + batch))])
    return (stop - start) / (time.perf_counter() - began)


def lookup(store: RunStore, population: int, count: int, seed: int = 0) -> float:
    """Keys per second checked with done_keys, random keys among the first ``population``."""
    rng = random.Random(seed)
    keys = [key(rng.randrange(population)) for _ in range(count)]
    began = time.perf_counter()
    found = 0
    for first in range(0, count, 1000):
        found += len(store.done_keys(keys[first : first + 1000]))
    assert found == len(set(keys)) or found <= count
    return count / (time.perf_counter() - began)


def main() -> None:
    """Fill a store to N rows, measure, print ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "store.sqlite"
        with RunStore(path) as store:
            single = insert(store, 0, 5_000, 1)
            small = 100_000
            batched_small = insert(store, 5_000, small, 1000)
            lookups_small = lookup(store, small, 200_000)
            batched = insert(store, small, args.rows, 1000)
            lookups_full = lookup(store, args.rows, 200_000, seed=1)
            assert store.count() == args.rows
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
    print(f"rows: {args.rows:,}; on disk {size / 1e9:.2f} GB ({size / args.rows:.0f} bytes/row)")
    print(f"inserts, one row per commit (first 5k):  {single:,.0f}/s")
    print(f"inserts, 1,000 per commit, to 100k:      {batched_small:,.0f}/s")
    print(f"inserts, 1,000 per commit, 100k to {args.rows / 1e6:.1f}M: {batched:,.0f}/s")
    print(f"lookups (done_keys, chunks of 1,000) at 100k rows: {lookups_small:,.0f}/s")
    print(
        f"lookups (done_keys, chunks of 1,000) at {args.rows / 1e6:.1f}M rows: {lookups_full:,.0f}/s"
    )
    print(f"ratio batched/single-row inserts: {batched_small / single:.1f}x")
    print(f"ratio lookups at full size / at 100k: {lookups_full / lookups_small:.2f}")
    print(f"ratio inserts past 100k / below 100k: {batched / batched_small:.2f}")


if __name__ == "__main__":
    main()
