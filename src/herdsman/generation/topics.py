"""Common topics from Wikipedia's category list (the paper's topic-guided generation).

The paper kept category titles of fewer than three words with more than 10
subcategories and more than 50 pages (2.2M categories -> 3.5K topics); those
are the defaults here (inclusive bounds on the raw columns). Reading the dump
is :mod:`herdsman.generation.category_dump`'s job; this module selects,
orders and writes the topics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from herdsman.config import TopicsConfig, default_of
from herdsman.errors import InputError
from herdsman.generation.category_dump import Bounds, ScanStats, scan_rows, unescape_mysql


@dataclass(frozen=True)
class TopicFilter:
    """The paper's filter; bounds are inclusive and apply to the raw columns."""

    max_words: int = default_of(TopicsConfig, "max_words")
    min_subcats: int = default_of(TopicsConfig, "min_subcats")
    min_pages: int = default_of(TopicsConfig, "min_pages")


@dataclass
class Topic:
    """A category kept as a topic."""

    title: str
    pages: int
    subcats: int


@dataclass
class TopicStats(ScanStats):
    """What a pass over a dump saw, and how many topics it kept."""

    kept: int = 0


def read_topics(
    path: str | Path,
    filt: TopicFilter | None = None,
    *,
    skip_bad: bool = False,
    workers: int | None = None,
) -> tuple[list[Topic], TopicStats]:
    """Stream a category dump and return the topics that pass the filter, most pages first.

    Args:
        path: ``.sql``, ``.sql.gz`` or ``.sql.bz2`` dump of the ``category`` table.
        filt: Bounds (default: the paper's).
        skip_bad: Skip malformed tuples (counted) instead of failing.
        workers: Processes scanning statements (default: the cores, for dumps
            over 8 MB; 0 scans in-process).

    Raises:
        InputError: A malformed tuple (with its byte offset in the decompressed
            stream), a truncated or corrupt archive, or a title that is not UTF-8.
    """
    path = Path(path)
    filt = filt or TopicFilter()
    stats = TopicStats()
    topics: list[Topic] = []
    bounds = Bounds(min_pages=filt.min_pages, min_subcats=filt.min_subcats)
    for title, pages, subcats, base in scan_rows(
        path, bounds, stats, skip_bad=skip_bad, workers=workers
    ):
        raw = unescape_mysql(title)
        if len([w for w in raw.split(b"_") if w]) > filt.max_words:
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(
                str(path), None, f"title is not UTF-8 near byte offset {base}"
            ) from None
        # One topic per line: underscores and any control characters become spaces.
        topics.append(Topic(" ".join(text.replace("_", " ").split()), int(pages), int(subcats)))
    stats.kept = len(topics)
    topics.sort(key=lambda t: (-t.pages, t.title))
    return topics, stats


def write_topics(path: str | Path, topics: list[Topic]) -> None:
    """One topic per line, atomically."""
    from herdsman.io.atomic import write_text_atomic

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
