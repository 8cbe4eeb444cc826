"""Common topics from a MediaWiki ``category`` table dump (the paper's topic-guided generation).

The dump (``*-category.sql`` or ``.sql.gz``) is a mysqldump: INSERT statements
of ``(cat_id, cat_title, cat_pages, cat_subcats, cat_files)`` tuples, a
megabyte or so per line. The paper kept titles of fewer than three words with
more than 10 subcategories and more than 50 pages (2.2M categories -> 3.5K
topics); those are the defaults here (inclusive bounds on the raw columns).

Why not mwsql? It builds a Python object per row and parses strings in Python;
this parser lets the regex engine do the work per statement: one
``fullmatch`` proves a whole INSERT well-formed, one ``findall`` extracts its
tuples, and only rows that pass the cheap numeric tests are unescaped and
decoded. A statement that is not well-formed is re-scanned tuple by tuple to
report the byte offset (in the decompressed stream) of the bad tuple.
``benchmarks/bench_topics.py`` compares it with ``gzip -dc``.
"""

from __future__ import annotations

import bz2
import gzip
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from herdsman.errors import InputError


def _tuple_pattern(capture: bool) -> bytes:
    """Regex for one ``(id,'title',pages,subcats,files)`` tuple, with or without groups."""
    group = b"(" if capture else b"(?:"
    number = group + rb"-?\d+)"
    string = rb"'" + group + rb"(?:[^'\\]|\\.|'')*)'"
    comma = rb"\s*,\s*"
    return (
        rb"\(\s*"
        + number
        + comma
        + string
        + comma
        + number
        + comma
        + number
        + comma
        + number
        + rb"\s*\)"
    )


TUPLE_RE = re.compile(_tuple_pattern(capture=True), re.S)
_ANY_TUPLE = _tuple_pattern(capture=False)
_INSERT_RE = re.compile(
    rb"INSERT\s+(?:IGNORE\s+)?INTO\s+`?category`?\s*(?:\([^)]*\)\s*)?VALUES\s*", re.I
)
_STATEMENT_RE = re.compile(rb"(?:" + _ANY_TUPLE + rb"\s*,\s*)*" + _ANY_TUPLE + rb"\s*;\s*", re.S)
_SEPARATOR_RE = re.compile(rb"\s*(,|;)\s*")
_ESCAPES = {
    b"0": b"\x00", b"b": b"\b", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"Z": b"\x1a",
    b"%": b"\\%", b"_": b"\\_",
}  # fmt: skip
_ESCAPE_RE = re.compile(rb"\\(.)|''", re.S)


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
class TopicFilter:
    """The paper's filter; bounds are inclusive and apply to the raw columns."""

    max_words: int = 2
    min_subcats: int = 11
    min_pages: int = 51


@dataclass
class Topic:
    """A category kept as a topic."""

    title: str
    pages: int
    subcats: int


@dataclass
class TopicStats:
    """What a pass over a dump saw."""

    statements: int = 0
    rows: int = 0
    kept: int = 0
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


def _locate_bad_tuple(statement: bytes, values_at: int) -> int:
    """Offset (within the statement) of the first tuple that does not parse."""
    pos = values_at
    while True:
        m = TUPLE_RE.match(statement, pos)
        if not m:
            return pos
        sep = _SEPARATOR_RE.match(statement, m.end())
        if not sep:
            return m.end()
        if sep.group(1) == b";":
            return len(statement)
        pos = sep.end()


def _tuples_tolerant(
    statement: bytes, values_at: int, base: int, path: Path, stats: TopicStats
) -> Iterator[tuple[bytes, ...]]:
    """Tuples of a statement with bad ones skipped (``--skip-bad``), each bad one counted."""
    pos = values_at
    while pos < len(statement):
        m = TUPLE_RE.match(statement, pos)
        if m:
            yield m.groups()
            pos = m.end()
        else:
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


def read_topics(
    path: str | Path, filt: TopicFilter | None = None, *, skip_bad: bool = False
) -> tuple[list[Topic], TopicStats]:
    """Stream a category dump and return the topics that pass the filter, most pages first.

    Args:
        path: ``.sql``, ``.sql.gz`` or ``.sql.bz2`` dump of the ``category`` table.
        filt: Bounds (default: the paper's).
        skip_bad: Skip malformed tuples (counted) instead of failing.

    Raises:
        InputError: A malformed tuple (with its byte offset in the decompressed
            stream), a truncated or corrupt archive, or a title that is not UTF-8.
    """
    path = Path(path)
    filt = filt or TopicFilter()
    stats = TopicStats()
    topics: list[Topic] = []
    min_pages, min_subcats, max_words = filt.min_pages, filt.min_subcats, filt.max_words
    try:
        with _open(path) as stream:
            for base, statement in _statements(stream):
                stats.statements += 1
                values_at = _INSERT_RE.match(statement).end()  # type: ignore[union-attr]
                if _STATEMENT_RE.fullmatch(statement, values_at):
                    rows: Iterator[tuple[bytes, ...]] | list[tuple[bytes, ...]] = TUPLE_RE.findall(
                        statement, values_at
                    )
                elif skip_bad:
                    rows = _tuples_tolerant(statement, values_at, base, path, stats)
                else:
                    at = base + _locate_bad_tuple(statement, values_at)
                    raise InputError(
                        str(path),
                        None,
                        f"malformed category tuple at byte offset {at} (use --skip-bad to skip it)",
                    )
                for _cid, title, pages, subcats, _files in rows:
                    stats.rows += 1
                    if int(subcats) < min_subcats or int(pages) < min_pages:
                        continue
                    raw = unescape_mysql(title)
                    if len([w for w in raw.split(b"_") if w]) > max_words:
                        continue
                    try:
                        text = raw.decode("utf-8")
                    except UnicodeDecodeError:
                        raise InputError(
                            str(path), None, f"title is not UTF-8 near byte offset {base}"
                        ) from None
                    # One topic per line: underscores and any control characters become spaces.
                    topics.append(
                        Topic(" ".join(text.replace("_", " ").split()), int(pages), int(subcats))
                    )
    except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
        reason = "truncated archive" if isinstance(exc, EOFError) else f"corrupt archive ({exc})"
        raise InputError(str(path), None, f"{reason} after {stats.rows} rows") from None
    stats.kept = len(topics)
    topics.sort(key=lambda t: (-t.pages, t.title))
    return topics, stats


def write_topics(path: str | Path, topics: list[Topic]) -> None:
    """One topic per line, atomically."""
    from herdsman.jsonl import write_text_atomic

    write_text_atomic(path, "".join(f"{t.title}\n" for t in topics))


def load_topic_list(path: str | Path) -> list[str]:
    """Read a topics file (one per line; blank lines and ``#`` comments ignored).

    Raises:
        InputError: Missing file or no topics in it.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), None, f"cannot read topics ({exc})") from None
    topics = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not topics:
        raise InputError(str(path), None, "no topics in this file")
    return topics
