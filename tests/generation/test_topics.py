from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from herdsman.errors import InputError
from herdsman.generation.topics import TopicFilter, load_topic_list, read_topics, unescape_mysql
from tests.conftest import assert_one_line_error, run_cli

HEADER = "-- MySQL dump\nCREATE TABLE `category` (...);\n/*!40000 ALTER TABLE `category` DISABLE KEYS */;\n"


def dump(tmp_path: Path, *statements: str, name: str = "cat.sql", gz: bool = False) -> Path:
    text = HEADER + "\n".join(statements) + "\n"
    path = tmp_path / (name + (".gz" if gz else ""))
    if gz:
        path.write_bytes(gzip.compress(text.encode("utf-8")))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def titles(path: Path, **kw: object) -> list[str]:
    found, _ = read_topics(path, **kw)  # type: ignore[arg-type]
    return [t.title for t in found]


def test_escapes_commas_parentheses_utf8_and_several_statements(tmp_path: Path) -> None:
    path = dump(
        tmp_path,
        r"INSERT INTO `category` VALUES (1,'It\'s_fine',60,12,0),(2,'Back\\slash',70,12,0),(3,'Say_\"hi\"',80,12,0);",
        "INSERT INTO `category` VALUES (4,'Café',90,12,0),(5,'A,_(b)',100,12,0),(6,'Ünïcödé_ß',55,11,0);",
        "-- a comment line, not an INSERT",
        r"INSERT INTO `category` VALUES (7,'Multi\nline',65,12,0),(8,'Doubled''quote',66,12,0);",
    )
    got = titles(path)
    assert got == [
        "A, (b)",
        "Café",
        'Say "hi"',
        "Back\\slash",
        "Doubled'quote",
        "Multi line",
        "It's fine",
        "Ünïcödé ß",
    ]


def test_bounds_are_inclusive_on_raw_columns(tmp_path: Path) -> None:
    path = dump(
        tmp_path,
        "INSERT INTO `category` VALUES (1,'Edge',51,11,0),(2,'Pages_short',50,11,0),(3,'Subcats_short',51,10,0),"
        "(4,'Three_word_title',500,50,0),(5,'Two_words',500,50,0);",
    )
    assert titles(path) == ["Two words", "Edge"]
    assert titles(path, filt=TopicFilter(max_words=3, min_subcats=10, min_pages=50)) == [
        "Three word title",
        "Two words",
        "Edge",
        "Subcats short",
        "Pages short",
    ]


def test_gzip_and_multi_line_insert(tmp_path: Path) -> None:
    path = dump(
        tmp_path,
        "INSERT INTO `category` VALUES\n(1,'Alpha',60,12,0),\n(2,'Beta',70,12,0);",
        gz=True,
    )
    assert titles(path) == ["Beta", "Alpha"]


def test_broken_tuple_reports_byte_offset_and_skip_bad_counts_it(tmp_path: Path) -> None:
    good = "INSERT INTO `category` VALUES (1,'Alpha',60,12,0),(2,'Beta',70,12,0);"
    broken = (
        "INSERT INTO `category` VALUES (3,'Gamma',60,12,0),(4,'Delta,70,12,0),(5,'Eps',80,12,0);"
    )
    path = dump(tmp_path, good, broken)
    offset = len((HEADER + good + "\n").encode()) + broken.index("(4,")
    with pytest.raises(InputError, match=rf"malformed category tuple at byte offset {offset}"):
        read_topics(path)
    found, stats = read_topics(path, skip_bad=True)
    assert stats.malformed == 1 and [t.title for t in found] == ["Eps", "Beta", "Alpha", "Gamma"]


def test_truncated_gzip_is_a_clear_error(tmp_path: Path) -> None:
    rows = ",".join(f"({i},'Topic_{i}',{60 + i},12,0)" for i in range(5000))
    path = dump(tmp_path, f"INSERT INTO `category` VALUES {rows};", gz=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated archive"):
        read_topics(path)


def test_unescape_mysql() -> None:
    assert unescape_mysql(rb"a\'b\\c\"d\ne\0f''g") == b"a'b\\c\"d\ne\x00f'g"
    assert unescape_mysql(b"plain") == b"plain"


def test_topic_list_file(tmp_path: Path) -> None:
    path = tmp_path / "topics.txt"
    path.write_text("# comment\nJazz\n\n  Volcanoes  \n")
    assert load_topic_list(path) == ["Jazz", "Volcanoes"]
    empty = tmp_path / "empty.txt"
    empty.write_text("\n# only a comment\n")
    with pytest.raises(InputError, match="no topics"):
        load_topic_list(empty)


def test_bundled_demo_dump_through_the_cli(tmp_path: Path) -> None:
    from herdsman.io.bundled import bundled_file

    out = tmp_path / "topics.txt"
    result = run_cli("topics", str(bundled_file("demo_category.sql")), "-o", str(out))
    assert result.returncode == 0, result.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[:3] == ["Birds", "Physics", "Astronomy"]
    assert "Children's literature" in lines and "Électricité" in lines
    assert "Science fiction films by decade" not in lines and "Stub categories" not in lines
    assert all("\n" not in t and t == t.strip() for t in lines)


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    path = dump(tmp_path, "INSERT INTO `category` VALUES (1,'A',60,12,0),(2,'B',x,12,0);")
    assert_one_line_error(
        run_cli("topics", str(path), "-o", str(tmp_path / "t.txt")), "byte offset"
    )
    assert_one_line_error(
        run_cli("topics", str(tmp_path / "none.sql"), "-o", str(tmp_path / "t.txt")), "cannot read"
    )


def test_worker_processes_give_the_same_topics(tmp_path: Path) -> None:
    statements = [
        "INSERT INTO `category` VALUES "
        + ",".join(f"({s * 1000 + i},'Topic_{s}_{i}',{40 + i},{5 + i % 10},0)" for i in range(200))
        + ";"
        for s in range(6)
    ]
    statements.insert(
        3, "INSERT INTO `category` VALUES\n(9001,'Spaced_out',90,20,0),\n(9002,'It\\'s',95,30,0);"
    )
    path = dump(tmp_path, *statements, gz=True)
    serial = read_topics(path, workers=0)
    parallel = read_topics(path, workers=2)
    assert [t.title for t in serial[0]] == [t.title for t in parallel[0]]
    assert serial[1].rows == parallel[1].rows == 1202 and "It's" in [t.title for t in serial[0]]
