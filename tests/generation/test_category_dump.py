"""The category-dump scanner: statements stream through worker processes with bounded memory."""

from __future__ import annotations

import itertools
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from herdsman.generation.category_dump import (
    IN_FLIGHT_PER_WORKER,
    Bounds,
    ScanStats,
    bounded_map,
    scan_rows,
)


def _square(n: int) -> int:
    return n * n


def test_bounded_map_keeps_few_items_in_flight() -> None:
    pulled = 0

    def items() -> Iterator[int]:
        nonlocal pulled
        for n in range(200):
            pulled += 1
            yield n

    with ProcessPoolExecutor(2) as pool:
        results = bounded_map(pool, _square, items(), limit=4)
        first = next(results)
        pulled_at_first = pulled
        rest = list(results)
    assert first == 0 and rest == [n * n for n in range(1, 200)]  # in order, all of them
    assert pulled_at_first <= 4  # Executor.map would have read all 200 first


def _write_dump(path: Path, statements: int, rows: int) -> None:
    ids = itertools.count(1)
    with path.open("w") as f:
        f.write("-- MySQL dump\n")
        for _ in range(statements):
            body = ",".join(
                f"({i},'Topic_{i}',{(i * 7) % 120},{(i * 13) % 30},0)"
                for i in itertools.islice(ids, rows)
            )
            f.write(f"INSERT INTO `category` VALUES {body};\n")


def test_scanning_a_large_dump_holds_a_few_statements_not_the_dump(tmp_path: Path) -> None:
    dump = tmp_path / "big-category.sql"
    _write_dump(dump, statements=64, rows=20_000)  # about 0.6 MB a statement
    size = dump.stat().st_size
    stats = ScanStats()
    tracemalloc.start()
    try:
        kept = sum(1 for _ in scan_rows(dump, Bounds(51, 11), stats, workers=2))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stats.rows == 64 * 20_000 and stats.statements == 64
    assert kept == sum(
        1 for i in range(1, 64 * 20_000 + 1) if (i * 7) % 120 >= 51 and (i * 13) % 30 >= 11
    )
    in_flight = 2 * IN_FLIGHT_PER_WORKER * (size / 64)
    assert peak < in_flight + size / 8, (peak, size)  # reading everything first costs > size
