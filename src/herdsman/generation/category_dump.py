"""Stream the rows of a MediaWiki ``category`` table dump (mysqldump ``INSERT`` statements).

The dump (``*-category.sql``, ``.sql.gz`` or ``.sql.bz2``) holds INSERT
statements of ``(cat_id, cat_title, cat_pages, cat_subcats, cat_files)``
tuples, a megabyte or so per line. :func:`scan_rows` yields the rows whose
page and subcategory counts reach given bounds; topic selection
(:mod:`herdsman.generation.topics`) does the rest.

Why not mwsql? It builds a Python object per row and parses strings in Python;
this parser lets the regex engine do the work per statement: one possessive
regex skips whole runs of rows that fail the numeric bounds, and only rows
that pass are handed back. A statement that is not well-formed is re-scanned
tuple by tuple to report the byte offset (in the decompressed stream) of the
bad tuple. Statements are scanned in worker processes for big dumps, with a
bounded number in flight so memory does not grow with the dump.
``benchmarks/bench_topics.py`` compares it with mwsql and ``gzip -dc``.
"""

from __future__ import annotations

import bz2
import gzip
import os
import re
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from herdsman.errors import InputError

# A quoted MySQL string, unrolled and possessive (no backtracking): runs of plain
# bytes, then an escape (\x) or a doubled quote, and so on.
_STRING = rb"'[^'\\]*+(?:(?:\\.|'')[^'\\]*+)*+'"
_STRING_CAPTURE = rb"'([^'\\]*+(?:(?:\\.|'')[^'\\]*+)*+)'"
_COMMA = rb"\s*,\s*"
#: One ``(cat_id,'cat_title',cat_pages,cat_subcats,cat_files)`` tuple, spaces allowed.
TUPLE_RE = re.compile(
    rb"\(\s*(-?\d+)"
    + _COMMA
    + _STRING_CAPTURE
    + _COMMA
    + rb"(-?\d+)"
    + _COMMA
    + rb"(-?\d+)"
    + _COMMA
    + rb"(-?\d+)\s*\)",
    re.S,
)
_INSERT_RE = re.compile(
    rb"INSERT\s+(?:IGNORE\s+)?INTO\s+`?category`?\s*(?:\([^)]*\)\s*)?VALUES\s*", re.I
)
_SEPARATOR_RE = re.compile(rb"\s*(,|;)\s*")
_ESCAPES = {
    b"0": b"\x00", b"b": b"\b", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"Z": b"\x1a",
    b"%": b"\\%", b"_": b"\\_",
}  # fmt: skip
_ESCAPE_RE = re.compile(rb"\\(.)|''", re.S)


def int_at_least(n: int) -> bytes:
    """Regex (no groups) for decimal integers >= ``n`` (``n`` >= 1, no leading zeros)."""
    digits = str(n)
    d = len(digits)
    alternatives = [rf"[1-9]\d{{{d},}}"]  # more digits than n
    for i, ch in enumerate(digits):
        low = int(ch) + (0 if i == d - 1 else 1)
        if low <= 9:
            rest = d - i - 1
            alternatives.append(digits[:i] + f"[{low}-9]" + (rf"\d{{{rest}}}" if rest else ""))
    return ("(?:" + "|".join(alternatives) + ")").encode()


def int_below(n: int) -> bytes:
    """Regex (no groups) for decimal integers < ``n`` (``n`` >= 1), negatives included."""
    digits = str(n)
    d = len(digits)
    alternatives = [r"-\d+", "0"]
    if d >= 2:
        alternatives.append(rf"[1-9]\d{{0,{d - 2}}}")  # fewer digits than n
    for i, ch in enumerate(digits):
        high = int(ch) - 1
        low = 1 if i == 0 else 0
        if high >= low:
            rest = d - i - 1
            alternatives.append(digits[:i] + f"[{low}-{high}]" + (rf"\d{{{rest}}}" if rest else ""))
    return ("(?:" + "|".join(alternatives) + ")").encode()


class _FastScanner:
    """Skips runs of rows that fail the numeric filter inside the regex engine.

    mysqldump writes tuples without spaces. A possessive regex consumes every
    row whose pages or subcats are below the bounds; Python code runs only at
    rows that pass (a small share) or at anything unexpected, where the
    caller falls back to the tolerant path.
    """

    def __init__(self, filt: Bounds) -> None:
        low_pages, low_subcats = int_below(filt.min_pages), int_below(filt.min_subcats)
        fails = (
            rb"\(-?\d+,"
            + _STRING
            + rb",(?:"
            + low_pages
            + rb",-?\d+|-?\d+,"
            + low_subcats
            + rb"),-?\d+\)"
        )
        self.run = re.compile(rb"(?:" + fails + rb",)*+", re.S)
        self.fails = re.compile(fails, re.S)
        self.passes = re.compile(
            rb"\(-?\d+,"
            + _STRING_CAPTURE
            + rb",("
            + int_at_least(filt.min_pages)
            + rb"),("
            + int_at_least(filt.min_subcats)
            + rb"),-?\d+\)",
            re.S,
        )

    def scan(self, statement: bytes, pos: int) -> list[tuple[bytes, bytes, bytes]] | None:
        """``(title, pages, subcats)`` of rows passing the numeric filter, or ``None`` to fall back."""
        found: list[tuple[bytes, bytes, bytes]] = []
        while True:
            pos = self.run.match(statement, pos).end()  # type: ignore[union-attr]
            m = self.passes.match(statement, pos)
            if m:
                found.append(m.groups())  # type: ignore[arg-type]
            else:
                m = self.fails.match(statement, pos)
                if m is None:
                    return None
            pos = m.end()
            sep = statement[pos : pos + 1]
            if sep == b",":
                pos += 1
            elif sep == b";" and not statement[pos + 1 :].strip():
                return found
            else:
                return None


def unescape_mysql(raw: bytes) -> bytes:
    r"""Undo MySQL string escaping (``\'``, ``\\``, ``\"``, ``\n``, ``''``...)."""
    if b"\\" not in raw and b"''" not in raw:
        return raw

    def repl(m: re.Match[bytes]) -> bytes:
        ch = m.group(1)
        if ch is None:
            return b"'"
        return _ESCAPES.get(ch, ch)

    return _ESCAPE_RE.sub(repl, raw)


@dataclass(frozen=True)
class Bounds:
    """Inclusive lower bounds on the raw ``cat_pages`` and ``cat_subcats`` columns."""

    min_pages: int
    min_subcats: int


@dataclass
class ScanStats:
    """What a pass over a dump saw."""

    statements: int = 0
    rows: int = 0
    malformed: int = 0
    malformed_examples: list[str] = field(default_factory=list)


def _open(path: Path) -> BinaryIO:
    try:
        with path.open("rb") as probe:
            magic = probe.read(3)
    except OSError as exc:
        raise InputError(str(path), None, f"cannot read ({exc.strerror or exc})") from None
    if magic[:2] == b"\x1f\x8b":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if magic == b"BZh":
        return bz2.open(path, "rb")  # type: ignore[return-value]
    compressed = {".gz": "gzip", ".bz2": "bzip2"}.get(path.suffix.lower())
    if compressed:  # named as compressed, but it is not: say so rather than find no INSERT
        raise InputError(str(path), None, f"not {compressed} data, although the name says so")
    return path.open("rb")


def _statements(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """Yield ``(byte offset, statement)`` for each INSERT into ``category``."""
    offset = 0
    pending: list[bytes] = []
    start = 0
    for line in stream:
        if pending:
            pending.append(line)
            if line.rstrip().endswith(b";"):
                yield start, b"".join(pending)
                pending = []
        elif _INSERT_RE.match(line):
            if line.rstrip().endswith(b";"):
                yield offset, line
            else:  # tuples continue on the following lines
                pending, start = [line], offset
        offset += len(line)
    if pending:
        yield start, b"".join(pending)


def _tolerant_rows(
    statement: bytes, values_at: int, base: int, path: Path, stats: ScanStats, skip_bad: bool
) -> Iterator[tuple[bytes, bytes, bytes]]:
    """Every tuple of a statement, whitespace allowed; a bad tuple raises or, with ``skip_bad``, is counted."""
    pos = values_at
    while pos < len(statement):
        m = TUPLE_RE.match(statement, pos)
        if m:
            stats.rows += 1
            _cid, title, pages, subcats, _files = m.groups()
            yield title, pages, subcats
            pos = m.end()
        else:
            if not skip_bad:
                raise InputError(
                    str(path),
                    None,
                    f"malformed category tuple at byte offset {base + pos} (use --skip-bad to skip it)",
                )
            stats.malformed += 1
            if len(stats.malformed_examples) < 5:
                stats.malformed_examples.append(f"byte offset {base + pos}")
            nxt = statement.find(b"),(", pos)
            if nxt < 0:
                return
            pos = nxt + 1
        sep = _SEPARATOR_RE.match(statement, pos)
        if not sep or sep.group(1) == b";":
            return
        pos = sep.end()


_SCANNER: _FastScanner | None = None
PARALLEL_MIN_BYTES = 8 << 20  # below this, worker processes cost more than they save


def _init_scanner(filt: Bounds) -> None:
    global _SCANNER
    _SCANNER = _FastScanner(filt) if min(filt.min_pages, filt.min_subcats) >= 1 else None


def _scan_job(
    item: tuple[int, bytes],
) -> tuple[int, bytes, int, list[tuple[bytes, bytes, bytes]] | None, int]:
    """Scan one statement (in a worker or in-process): rows passing the numeric filter."""
    base, statement = item
    values_at = _INSERT_RE.match(statement).end()  # type: ignore[union-attr]
    fast = _SCANNER.scan(statement, values_at) if _SCANNER else None
    if fast is None:
        return base, statement, values_at, None, 0  # the caller re-parses it tolerantly
    # Outside strings a quote only follows a comma where a title starts.
    return base, b"", values_at, fast, statement.count(b",'", values_at)


def bounded_map(
    pool: ProcessPoolExecutor, fn: Callable[[Any], Any], items: Iterable[Any], limit: int
) -> Iterator[Any]:
    """``pool.map`` in order, with at most ``limit`` items in flight.

    ``Executor.map`` submits (and so reads) every item before yielding the
    first result; on a dump of gigabytes that is the whole dump in memory.
    """
    window: deque[Future[Any]] = deque()
    for item in items:
        window.append(pool.submit(fn, item))
        if len(window) >= limit:
            yield window.popleft().result()
    while window:
        yield window.popleft().result()


@contextmanager
def _scan_pool(path: Path, filt: Bounds, workers: int | None) -> Iterator[Any]:
    """A process pool for big dumps (regex scanning is CPU-bound and holds the GIL), else ``None``."""
    _init_scanner(filt)
    size = path.stat().st_size
    if workers is None:
        workers = min(8, os.cpu_count() or 1) if size >= PARALLEL_MIN_BYTES else 0
    if workers <= 1:
        yield None, 0
        return
    with ProcessPoolExecutor(workers, initializer=_init_scanner, initargs=(filt,)) as pool:
        yield pool, workers


IN_FLIGHT_PER_WORKER = 8  # statements (about 1 MB each) queued per worker process


def scan_rows(
    path: Path,
    bounds: Bounds,
    stats: ScanStats,
    *,
    skip_bad: bool = False,
    workers: int | None = None,
) -> Iterator[tuple[bytes, bytes, bytes, int]]:
    """``(raw title, pages, subcats, byte offset)`` of every row reaching the bounds, in dump order.

    Args:
        path: The dump (plain, gzip or bzip2; detected by content).
        bounds: Inclusive lower bounds on pages and subcategories.
        stats: Counts statements, rows and malformed tuples as the scan goes.
        skip_bad: Skip malformed tuples (counted) instead of failing.
        workers: Processes scanning statements (default: the cores, for dumps
            over 8 MB; 0 scans in-process).

    Raises:
        InputError: A malformed tuple (with its byte offset in the decompressed
            stream), or a truncated or corrupt archive.
    """
    try:
        with _open(path) as stream, _scan_pool(path, bounds, workers) as (pool, n_workers):
            statements = _statements(stream)
            scanned = (
                bounded_map(pool, _scan_job, statements, IN_FLIGHT_PER_WORKER * n_workers)
                if pool
                else map(_scan_job, statements)
            )
            for base, statement, values_at, fast, n_rows in scanned:
                stats.statements += 1
                if fast is not None:
                    stats.rows += n_rows
                    candidates: Iterable[tuple[bytes, bytes, bytes]] = fast
                else:
                    candidates = _tolerant_rows(statement, values_at, base, path, stats, skip_bad)
                for title, pages, subcats in candidates:
                    if int(subcats) >= bounds.min_subcats and int(pages) >= bounds.min_pages:
                        yield title, pages, subcats, base
    except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
        reason = "truncated archive" if isinstance(exc, EOFError) else f"corrupt archive ({exc})"
        raise InputError(str(path), None, f"{reason} after {stats.rows} rows") from None
