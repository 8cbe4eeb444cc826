from __future__ import annotations

import json
from pathlib import Path

import pytest

from herdsman.errors import InputError
from herdsman.io.jsonl import BadLines, iter_json_objects, write_jsonl_atomic


def test_reads_objects_with_line_numbers_and_skips_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n', encoding="utf-8")
    assert list(iter_json_objects(path)) == [(1, {"a": 1}), (3, {"a": 2})]


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n{"a": \n{"a": 3}\n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        list(iter_json_objects(path))
    assert str(info.value).startswith(f"{path}:2: invalid JSON")


def test_skip_bad_counts_malformed_and_non_object_lines(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n{oops\n[1, 2]\n{"a": 4}\n', encoding="utf-8")
    bad = BadLines()
    rows = list(iter_json_objects(path, skip_bad=True, bad=bad))
    assert [line for line, _ in rows] == [1, 4]
    assert bad.count == 2
    assert ":2:" in bad.examples[0] and ":3: expected a JSON object" in bad.examples[1]


def test_not_utf8_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    path.write_bytes(b'{"a": "caf\xe9"}\n')
    with pytest.raises(InputError, match="not UTF-8"):
        list(iter_json_objects(path))


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        list(iter_json_objects(tmp_path / "nope.jsonl"))


def test_atomic_write_keeps_old_file_when_producer_fails(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write_jsonl_atomic(path, [{"n": 1}])

    def rows():  # type: ignore[no-untyped-def]
        yield {"n": 2}
        raise RuntimeError("crash half-way")

    with pytest.raises(RuntimeError):
        write_jsonl_atomic(path, rows())
    assert [json.loads(x) for x in path.read_text().splitlines()] == [{"n": 1}]
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]  # no temp file left
