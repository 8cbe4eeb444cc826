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


def _peak(dump: Path, statements: int) -> tuple[int, ScanStats, int]:
    """Peak traced memory of the scanning process, its stats, and the rows kept."""
    stats = ScanStats()
    tracemalloc.start()
    try:
        kept = sum(1 for _ in scan_rows(dump, Bounds(51, 11), stats, workers=2))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, stats, kept


def test_scanning_a_large_dump_holds_a_few_statements_not_the_dump(tmp_path: Path) -> None:
    # Memory must not grow with the dump: three times the statements, about the same peak
    # (reading every statement before scanning, as Executor.map does, triples it).
    small, large = tmp_path / "small-category.sql", tmp_path / "large-category.sql"
    _write_dump(small, statements=32, rows=20_000)  # about 0.6 MB a statement
    _write_dump(large, statements=96, rows=20_000)
    peak_small, _, _ = _peak(small, 32)
    peak_large, stats, kept = _peak(large, 96)
    assert stats.rows == 96 * 20_000 and stats.statements == 96
    assert kept == sum(
        1 for i in range(1, 96 * 20_000 + 1) if (i * 7) % 120 >= 51 and (i * 13) % 30 >= 11
    )
    assert peak_large < 1.5 * peak_small, (peak_small, peak_large)
    assert peak_large < large.stat().st_size / 2, (peak_large, large.stat().st_size)
    assert IN_FLIGHT_PER_WORKER >= 2
