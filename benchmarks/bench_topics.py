"""``herdsman topics`` on a generated 2.2M-row category dump vs ``gzip -dc`` (and mwsql).

The dump is written in the real mysqldump format of ``enwiki-*-category.sql.gz``
(CREATE TABLE, then INSERT lines of about 1 MB) with titles that exercise the
escapes (``\\'``, ``\\\\``, ``\\"``), commas, parentheses and UTF-8, and
heavy-tailed page/subcategory counts. Times, as ratios to ``gzip -dc > /dev/null``
on the same file in the same run:

- ``herdsman topics`` as a user runs it (a subprocess: interpreter start included);
- the parser in-process (``read_topics``);
- mwsql (the PyPI baseline, if installed: ``pip install mwsql``), with the
  number of titles on which it disagrees with herdsman's.

Usage: python benchmarks/bench_topics.py [--rows 2200000]
"""

from __future__ import annotations

import argparse
import gzip
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from herdsman.generation.topics import TopicFilter, read_topics

WORDS = [
    "history",
    "science",
    "music",
    "film",
    "people",
    "sport",
    "art",
    "language",
    "politics",
    "war",
    "river",
    "city",
    "music",
    "literature",
    "philosophy",
    "economics",
    "geography",
    "biology",
    "chemistry",
    "physics",
    "mathematics",
    "religion",
    "architecture",
    "television",
    "games",
    "food",
    "animals",
    "plants",
    "companies",
    "transport",
    "education",
    "medicine",
    "Français",
    "Ελληνικά",
    "Русский",
    "日本語",
    "Español",
    "Café",
    "Zürich",
    "São_Paulo",
]
ODD = ["It's", 'Say_"hi"', "Back\\slash", "A,_B", "(disambiguation)", "C++", "50%", "Ü-Bahn"]
HEADER = """-- MySQL dump 10.19  Distrib 10.3.38-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: db    Database: enwiki
DROP TABLE IF EXISTS `category`;
CREATE TABLE `category` (
  `cat_id` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `cat_title` varbinary(255) NOT NULL DEFAULT '',
  `cat_pages` int(11) NOT NULL DEFAULT 0,
  `cat_subcats` int(11) NOT NULL DEFAULT 0,
  `cat_files` int(11) NOT NULL DEFAULT 0,
  PRIMARY KEY (`cat_id`)
) ENGINE=InnoDB DEFAULT CHARSET=binary ROW_FORMAT=COMPRESSED;
/*!40000 ALTER TABLE `category` DISABLE KEYS */;
"""


def escape(title: str) -> str:
    return title.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"')


def write_dump(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=6) as out:
        out.write(HEADER)
        line: list[str] = []
        size = 0
        for cat_id in range(1, rows + 1):
            words = rng.choices(WORDS, k=rng.choice((1, 1, 2, 2, 2, 3, 4, 5)))
            if rng.random() < 0.05:
                words.append(rng.choice(ODD))
            title = "_".join(words).capitalize() + f"_{cat_id}" * (rng.random() < 0.7)
            pages = int(rng.lognormvariate(1.5, 1.6))
            subcats = int(rng.lognormvariate(0.2, 1.3))
            item = f"({cat_id},'{escape(title)}',{pages},{subcats},{rng.randint(0, 3)})"
            line.append(item)
            size += len(item) + 1
            if size > 1_000_000:
                out.write("INSERT INTO `category` VALUES " + ",".join(line) + ";\n")
                line, size = [], 0
        if line:
            out.write("INSERT INTO `category` VALUES " + ",".join(line) + ";\n")
        out.write("/*!40000 ALTER TABLE `category` ENABLE KEYS */;\n")


def timed(fn) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def mwsql_titles(path: Path, filt: TopicFilter) -> list[str]:
    from mwsql import Dump

    dump = Dump.from_file(str(path))
    titles = []
    for row in dump.rows(convert_dtypes=True):
        _, title, pages, subcats, _ = row
        title = str(title)
        if (
            subcats >= filt.min_subcats
            and pages >= filt.min_pages
            and len([w for w in title.split("_") if w]) <= filt.max_words
        ):
            titles.append(title.replace("_", " "))
    return titles


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "enwiki-category.sql.gz"
        write_dump(dump, args.rows)
        gz_s, _ = timed(
            lambda: subprocess.run(f"gzip -dc {dump} > /dev/null", shell=True, check=True)
        )
        cli_s, _ = timed(
            lambda: subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "herdsman",
                    "topics",
                    str(dump),
                    "-o",
                    str(Path(tmp) / "t.txt"),
                ],
                check=True,
                capture_output=True,
            )
        )
        lib_s, (topics, stats) = timed(lambda: read_topics(dump))  # type: ignore[misc]
        print(
            f"category dump: {stats.rows:,} rows, {dump.stat().st_size / 1e6:.1f} MB gzip, {stats.kept} topics kept"
        )
        print(f"  gzip -dc (baseline)      : {gz_s:6.2f} s")
        print(
            f"  herdsman topics (CLI)    : {cli_s:6.2f} s  = {cli_s / gz_s:.2f}x gzip -dc  (target <= 5x)"
        )
        print(f"  read_topics (in-process) : {lib_s:6.2f} s  = {lib_s / gz_s:.2f}x gzip -dc")
        try:
            import mwsql  # noqa: F401
        except ImportError:
            print("  mwsql: not installed (pip install mwsql) - skipped")
            return
        mw_s, mw_titles = timed(lambda: mwsql_titles(dump, TopicFilter()))
        ours = sorted(t.title for t in topics)
        theirs = sorted(mw_titles)  # type: ignore[arg-type]
        differ = len(set(ours) ^ set(theirs))
        print(
            f"  mwsql                    : {mw_s:6.2f} s  = {mw_s / gz_s:.2f}x gzip -dc; {mw_s / lib_s:.1f}x slower than herdsman"
        )
        print(f"  titles that differ between mwsql and herdsman: {differ} (of {len(ours)})")


if __name__ == "__main__":
    main()
