"""Ordinary mistakes get one line and a non-zero exit, never a traceback or a silent success.

Read-only folders, configs that are not UTF-8 or name a key twice, files that are
not SQLite, JSON of the wrong shape, rows of the wrong types, a dump without
INSERT statements, an oversized record, an incomplete model folder. Every input
is byte-identical afterwards.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_careless import NO_TEACHER, project, snapshot
from tests.conftest import assert_one_line_error, run_cli


def as_user(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``herdsman ARGS`` as a non-root user (a user namespace: root's DAC override is gone)."""
    import os

    return subprocess.run(
        ["unshare", "--user", "--map-user=1000", sys.executable, "-m", "herdsman", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
        check=False,
    )


def unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--user", "--map-user=1000", "true"], capture_output=True, check=False
    )
    return probe.returncode == 0


needs_user = pytest.mark.skipif(
    not unshare_works(), reason="no user namespaces here (unshare --user): cannot drop root"
)


@needs_user
@pytest.mark.parametrize(
    "argv",
    [
        ["seeds", "{t}/r.jsonl", "-o", "{t}/ro/s.jsonl"],
        ["dedup", "{t}/r.jsonl", "-o", "{t}/ro/d.jsonl"],
        ["analyze", "{t}/ds", "-o", "{t}/ro/analysis"],
        ["report", "{t}/run", "-o", "{t}/ro/report.html"],
        [
            "respond",
            "{t}/r.jsonl",
            "-o",
            "{t}/ro/a.jsonl",
            *NO_TEACHER,
        ],
    ],
    ids=["seeds", "dedup", "analyze", "report", "respond"],
)
def test_a_read_only_folder_is_one_line(tmp_path: Path, argv: list[str]) -> None:
    project(tmp_path)
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o555)
    before = snapshot(tmp_path)
    result = as_user(*(a.format(t=tmp_path) for a in argv))
    assert_one_line_error(result, "ro", "not writable")
    assert result.returncode == 1
    assert snapshot(tmp_path) == before


def test_an_os_error_at_the_boundary_names_the_path_and_debug_shows_the_traceback(
    tmp_path: Path,
) -> None:
    project(tmp_path)
    out = tmp_path / "out"
    (out / "analysis.json").mkdir(parents=True)  # where analyze writes a file
    before = snapshot(tmp_path)
    argv = ["analyze", str(tmp_path / "ds"), "-o", str(out), "--no-embed"]
    result = run_cli(*argv)
    assert_one_line_error(result, "analysis.json", "is a folder")
    assert result.returncode == 1
    assert ".tmp" not in result.stderr
    shown = run_cli(*argv, env={"HERDSMAN_DEBUG": "1"})
    assert "Traceback" in shown.stderr and "IsADirectoryError" in shown.stderr
    shown = run_cli("--debug", *argv)
    assert "Traceback" in shown.stderr
    assert {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("out")} == {
        k: v for k, v in before.items() if not k.startswith("out")
    }


def test_describe_error_covers_the_os_and_corrupt_files() -> None:
    import errno
    import sqlite3

    from herdsman.cli.app import describe_error

    assert describe_error(PermissionError(errno.EACCES, "x", "/ro/f")) == "/ro/f: permission denied"
    assert "disk full" in (describe_error(OSError(errno.ENOSPC, "x", "/f")) or "")
    assert "is a folder" in (describe_error(IsADirectoryError(errno.EISDIR, "x", "/d")) or "")
    assert "not a folder" in (describe_error(NotADirectoryError(errno.ENOTDIR, "x", "/f/g")) or "")
    assert "SQLite" in (describe_error(sqlite3.DatabaseError("file is not a database")) or "")
    assert "UTF-8" in (describe_error(b"\xff".decode("utf-8", "strict") if False else
                                      UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad")) or "")  # fmt: skip
    assert describe_error(ValueError("a bug")) is None  # bugs keep their traceback


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("run_dir: run\n".encode("utf-16"), "UTF-16"),
        ("run_dir: café\n".encode("latin-1"), "not UTF-8"),
        (b"run_dir: a\nseeds: []\nrun_dir: b\n", "lines 1 and 3"),
    ],
    ids=["utf-16", "latin-1", "duplicate key"],
)
def test_config_encoding_and_duplicate_keys(tmp_path: Path, content: bytes, needle: str) -> None:
    config = tmp_path / "c.yaml"
    config.write_bytes(content)
    result = run_cli("run", str(config), "--dry-run")
    assert_one_line_error(result, "c.yaml", needle)
    assert result.returncode == 1
    assert config.read_bytes() == content


def test_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    project(tmp_path)
    bogus = tmp_path / "run" / "eval" / "ratings.sqlite"
    bogus.parent.mkdir(parents=True)
    bogus.write_text("not a database, just text\n" * 10)
    before = snapshot(tmp_path)
    for argv in (
        ["rate", "export", "--db", str(bogus), "-o", str(tmp_path / "x.csv")],
        ["rate", "serve", "--db", str(bogus)],
    ):
        result = run_cli(*argv)
        assert_one_line_error(result, "ratings.sqlite", "not a rating database")
    assert snapshot(tmp_path) == before
    report = run_cli("report", str(tmp_path / "run"), "-o", str(tmp_path / "r.html"))
    assert report.returncode == 0, report.stderr
    assert "not a SQLite rating database" in " ".join((report.stdout + report.stderr).split())
    assert snapshot(tmp_path) == {**before, "r.html": (tmp_path / "r.html").read_bytes()}


def test_report_json_of_the_wrong_shape_is_noted_not_a_crash(tmp_path: Path) -> None:
    run = tmp_path / "run"
    for rel, value in {
        "dataset/stats.json": {"rows": 3},
        "analysis/analysis.json": [1, 2],
        "eval/benchmarks.json": {"models": 5, "tasks": [1]},
        "eval/judge.json": {"grades": [1, 2]},
        "eval/probes.json": "x",
        "selected/selection.json": {"kept": "many"},
    }.items():
        (run / rel).parent.mkdir(parents=True, exist_ok=True)
        (run / rel).write_text(json.dumps(value))
    before = snapshot(tmp_path)
    result = run_cli("report", str(run), "-o", str(tmp_path / "r.html"))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    for part in ("analysis", "benchmarks", "judge", "probes"):
        assert f"{part}: unreadable" in " ".join((result.stdout + result.stderr).split()), (
            result.stdout
        )
    assert snapshot(tmp_path) == {**before, "r.html": (tmp_path / "r.html").read_bytes()}


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        ({"instruction": "Say hi", "response": 42}, "field 'response': expected a string"),
        ({"instruction": ["a", "list"], "response": "hi"}, "field 'instruction'"),
        ({"response": "hi"}, "missing field 'instruction'"),
    ],
    ids=["numeric response", "list instruction", "no instruction"],
)
def test_quality_checks_row_types(tmp_path: Path, row: dict[str, object], needle: str) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps({"instruction": "Ok", "response": "Fine answer here."}) + "\n"
                    + json.dumps(row) + "\n")  # fmt: skip
    before = snapshot(tmp_path)
    result = run_cli("quality", str(data), "-o", str(tmp_path / "o.jsonl"))
    assert_one_line_error(result, "in.jsonl:2", needle)
    assert snapshot(tmp_path) == before


def test_answer_sheets_check_row_types(tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.jsonl"
    sheet.write_text(json.dumps({"instruction": "Hi", "answer": 3, "model": "m"}) + "\n")
    before = snapshot(tmp_path)
    result = run_cli("rate", "serve", str(sheet), "--db", str(tmp_path / "db.sqlite"))
    assert_one_line_error(result, "sheet.jsonl:1", "field 'answer'")
    result = run_cli(
        "judge", str(sheet), "-o", str(tmp_path / "j.json"), *NO_TEACHER
    )  # fmt: skip
    assert_one_line_error(result, "sheet.jsonl:1", "field 'answer'")
    assert {k: v for k, v in snapshot(tmp_path).items() if "db.sqlite" not in k} == before


def test_topics_refuses_a_file_without_insert_statements(tmp_path: Path) -> None:
    plain = tmp_path / "list.txt"
    plain.write_text("Physics\nChemistry\n")
    fake_gz = tmp_path / "dump.sql.gz"
    fake_gz.write_text("not gzip at all\n")
    before = snapshot(tmp_path)
    for dump, why in ((plain, "INSERT"), (fake_gz, "not gzip data")):
        result = run_cli("topics", str(dump), "-o", str(tmp_path / "out.txt"))
        assert_one_line_error(result, dump.name, why)
    assert snapshot(tmp_path) == before


def test_dedup_refuses_an_oversized_record(tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text(
        json.dumps({"instruction": "short"}) + "\n"
        + json.dumps({"instruction": "x" * (2 << 20)}) + "\n"
    )  # fmt: skip
    before = snapshot(tmp_path)
    result = run_cli("dedup", str(data), "-o", str(tmp_path / "o.jsonl"))
    assert_one_line_error(result, "in.jsonl:2", "longer than")
    assert snapshot(tmp_path) == before


def test_train_refuses_a_base_folder_with_only_a_config(tmp_path: Path) -> None:
    project(tmp_path)
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text('{"model_type": "llama"}')
    before = snapshot(tmp_path)
    result = run_cli(
        "train", "--base", str(base), "--data", str(tmp_path / "ds"), "-o", str(tmp_path / "s")
    )
    assert_one_line_error(result, "base", "no weights")
    assert snapshot(tmp_path) == before
