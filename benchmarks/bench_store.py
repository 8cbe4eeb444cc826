"""Run store at the paper's scale: inserts and lookups per second at 3M keys, and the file size.

Writes N call results (default 3,000,000; SHA-256 keys as :func:`call_key`
makes them, answers of about 600 bytes, like a LaMini response) through
:meth:`RunStore.put_many` in transactions of 1,000 rows (what a high-throughput
backend commits at once), then looks up random keys with
:meth:`RunStore.done_keys` in chunks of 1,000 (what :func:`herdsman.store.calls.pending`
does when a stage resumes). Baselines measured in the same run: the same
lookups on the first 100,000 rows (is there a slowdown with size?) and
one-row commits (what the openai backend does as each answer lands).

Layouts: before the big run, the same inserts and lookups on ``--layout-rows``
rows (default 150,000) go to a store in today's layout (schema 2: a rowid
table with a UNIQUE index on the key) and to one in the old layout (schema 1:
a WITHOUT ROWID table keyed by the key), both through :class:`RunStore`, and
the ratios are printed.

Every lookup is checked: each key looked up was inserted, so ``done_keys``
must return every one of them.

Usage: python benchmarks/bench_store.py [--rows 3000000] [--layout-rows 150000] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sqlite3
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
    for first in range(0, count, 1000):
        chunk = keys[first : first + 1000]
        found = store.done_keys(chunk)
        if found != set(chunk):
            raise SystemExit(f"lookup lost {len(set(chunk) - found)} inserted key(s)")
    return count / (time.perf_counter() - began)


V1_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
CREATE TABLE calls (
    key TEXT PRIMARY KEY, stage TEXT NOT NULL, teacher TEXT NOT NULL, model TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error')), text TEXT, finish_reason TEXT,
    prompt_tokens INTEGER, completion_tokens INTEGER, cost REAL, error TEXT,
    attempts INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
) WITHOUT ROWID;
"""


def layout_speed(path: Path, rows: int, old_layout: bool) -> tuple[float, float]:
    """(inserts/s, lookups/s) at ``rows`` rows in one store layout."""
    if old_layout:
        with sqlite3.connect(path) as conn:
            conn.executescript(V1_SCHEMA)
    with RunStore(path) as store:
        inserts = insert(store, 0, rows, 1000)
        lookups = lookup(store, rows, min(rows, 200_000), seed=2)
    return inserts, lookups


def main() -> None:
    """Fill a store to N rows, measure, print ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--layout-rows", type=int, default=150_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        old_ins, old_look = layout_speed(Path(tmp) / "v1.sqlite", args.layout_rows, True)
        new_ins, new_look = layout_speed(Path(tmp) / "v2.sqlite", args.layout_rows, False)
    print(f"layouts at {args.layout_rows:,} rows (1,000 per commit):")
    print(f"  schema 1 (WITHOUT ROWID): inserts {old_ins:,.0f}/s, lookups {old_look:,.0f}/s")
    print(f"  schema 2 (rowid + UNIQUE key): inserts {new_ins:,.0f}/s, lookups {new_look:,.0f}/s")
    print(
        f"  ratio schema 2 / schema 1: inserts {new_ins / old_ins:.2f}x, lookups {new_look / old_look:.2f}x"
    )
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
