"""Careless invocations never destroy data: an output that is an input, or the wrong kind.

Every case checks the exit code, the one-line message naming the paths, and that
every file in the folder is byte-identical afterwards (nothing written).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error, run_cli

ROWS = [
    {"instruction": "Name a colour.", "response": "Blue is a colour of the sky."},
    {"instruction": "Say hello in French.", "response": "Bonjour, comment allez-vous?"},
]
#: Teacher flags of a command that must fail before it calls anyone (nothing listens there).
NO_TEACHER = ["--teacher", "openai", "--model", "stub", "--base-url", "http://127.0.0.1:9/v1"]
DUMP = "INSERT INTO `category` VALUES (1,'Physics',120,30,0);\n"


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` and its bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def project(tmp: Path) -> None:
    lines = "".join(json.dumps(r) + "\n" for r in ROWS)
    (tmp / "r.jsonl").write_text(lines)
    (tmp / "sheet.jsonl").write_text(
        "".join(json.dumps({**r, "model": "teacher"}) + "\n" for r in ROWS)
    )
    (tmp / "t.txt").write_text(DUMP)
    (tmp / "ds").mkdir()
    (tmp / "ds" / "train.jsonl").write_text(lines)
    (tmp / "ds" / "held_out.jsonl").write_text(json.dumps(ROWS[0]) + "\n")
    (tmp / "model").mkdir()
    (tmp / "folder").mkdir()
    (tmp / "run").mkdir()
    (tmp / "db.sqlite").write_bytes(b"")


Case = tuple[Callable[[Path], list[str]], tuple[str, ...]]

OUTPUT_IS_INPUT: dict[str, Case] = {
    "seeds": (lambda t: ["seeds", f"{t}/r.jsonl", "-o", f"{t}/r.jsonl"], ("-o", "r.jsonl")),
    "topics": (lambda t: ["topics", f"{t}/t.txt", "-o", f"{t}/t.txt"], ("DUMP", "t.txt")),
    "generate": (
        lambda t: [
            "generate",
            "--strategy",
            "example",
            "--seeds",
            f"{t}/r.jsonl",
            "-n",
            "1",
            "-o",
            f"{t}/r.jsonl",
            *NO_TEACHER,
        ],
        ("--seeds", "r.jsonl"),
    ),
    "dedup": (lambda t: ["dedup", f"{t}/r.jsonl", "-o", f"{t}/r.jsonl"], ("IN.jsonl",)),
    "dedup --dropped": (
        lambda t: ["dedup", f"{t}/r.jsonl", "-o", f"{t}/o.jsonl", "--dropped", f"{t}/r.jsonl"],
        ("--dropped", "r.jsonl"),
    ),
    "respond": (
        lambda t: [
            "respond",
            f"{t}/r.jsonl",
            "-o",
            f"{t}/r.jsonl",
            *NO_TEACHER,
        ],
        ("IN.jsonl", "r.jsonl"),
    ),
    "quality": (lambda t: ["quality", f"{t}/r.jsonl", "-o", f"{t}/r.jsonl"], ("r.jsonl",)),
    "quality --removed": (
        lambda t: ["quality", f"{t}/r.jsonl", "-o", f"{t}/q.jsonl", "--removed", f"{t}/q.jsonl"],
        ("-o", "--removed", "q.jsonl"),
    ),
    "analyze": (lambda t: ["analyze", f"{t}/ds", "-o", f"{t}/ds"], ("DATASET", "ds")),
    "select": (
        lambda t: ["select", f"{t}/ds", "-o", f"{t}/ds", "--fraction", "0.5"],
        ("DATASET", "ds"),
    ),
    "train": (
        lambda t: ["train", "--base", "gemma-3-270m", "--data", f"{t}/ds", "-o", f"{t}/ds"],
        ("--data", "ds"),
    ),
    "eval": (lambda t: ["eval", f"{t}/model", "-o", f"{t}/model"], ("MODEL", "model")),
    "judge": (
        lambda t: [
            "judge",
            f"{t}/sheet.jsonl",
            "-o",
            f"{t}/sheet.jsonl",
            *NO_TEACHER,
        ],
        ("ANSWERS", "sheet.jsonl"),
    ),
    "rate serve": (
        lambda t: ["rate", "serve", f"{t}/sheet.jsonl", "--db", f"{t}/sheet.jsonl"],
        ("--db", "sheet.jsonl"),
    ),
}

WRONG_KIND: dict[str, Case] = {
    "file output is a folder": (
        lambda t: ["dedup", f"{t}/r.jsonl", "-o", f"{t}/folder"],
        ("folder", "is a folder"),
    ),
    "analyze -o a file": (lambda t: ["analyze", f"{t}/ds", "-o", f"{t}/t.txt"], ("is a file",)),
    "train -o a file": (
        lambda t: ["train", "--base", "gemma-3-270m", "--data", f"{t}/ds", "-o", f"{t}/t.txt"],
        ("is a file",),
    ),
    "demo --out a file": (lambda t: ["demo", "--out", f"{t}/t.txt"], ("--out", "is a file")),
    "below a file": (
        lambda t: ["seeds", f"{t}/r.jsonl", "-o", f"{t}/t.txt/seeds.jsonl"],
        ("t.txt", "not a folder"),
    ),
    "rate export -o .jsonl": (
        lambda t: ["rate", "export", "--db", f"{t}/db.sqlite", "-o", f"{t}/sheet.jsonl"],
        (".csv", ".json", ".jsonl"),
    ),
    "report -o a folder": (
        lambda t: ["report", f"{t}/run", "-o", f"{t}/folder"],
        ("folder", "is a folder"),
    ),
    "report -o not html": (
        lambda t: ["report", f"{t}/run", "-o", f"{t}/sheet.jsonl"],
        (".html", "sheet.jsonl"),
    ),
    "judge -o not json": (
        lambda t: ["judge", f"{t}/sheet.jsonl", "-o", f"{t}/j.csv"],
        (".json", "j.csv"),
    ),
}


@pytest.mark.parametrize("case", list(OUTPUT_IS_INPUT), ids=list(OUTPUT_IS_INPUT))
def test_an_output_that_is_an_input_is_refused(tmp_path: Path, case: str) -> None:
    project(tmp_path)
    argv, needles = OUTPUT_IS_INPUT[case]
    before = snapshot(tmp_path)
    result = run_cli(*argv(tmp_path))
    assert_one_line_error(result, *needles)
    assert result.returncode == 1
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("case", list(WRONG_KIND), ids=list(WRONG_KIND))
def test_an_output_of_the_wrong_kind_is_refused(tmp_path: Path, case: str) -> None:
    project(tmp_path)
    argv, needles = WRONG_KIND[case]
    before = snapshot(tmp_path)
    result = run_cli(*argv(tmp_path))
    assert_one_line_error(result, *needles)
    assert result.returncode == 1
    assert snapshot(tmp_path) == before


def test_links_to_an_input_are_the_input(tmp_path: Path) -> None:
    project(tmp_path)
    (tmp_path / "soft.jsonl").symlink_to(tmp_path / "r.jsonl")
    (tmp_path / "hard.jsonl").hardlink_to(tmp_path / "r.jsonl")
    before = snapshot(tmp_path)
    for link in ("soft.jsonl", "hard.jsonl"):
        result = run_cli("dedup", str(tmp_path / "r.jsonl"), "-o", str(tmp_path / link))
        assert_one_line_error(result, link, "r.jsonl")
    assert snapshot(tmp_path) == before


RUN_CONFIG = """\
run_dir: {run_dir}
seeds:
  - path: {seeds}
    format: jsonl
teacher:
  backend: openai
  model: stub
  base_url: http://127.0.0.1:9/v1
"""


def test_the_run_folder_never_rewrites_a_seed_file_and_is_a_folder(tmp_path: Path) -> None:
    project(tmp_path)
    (tmp_path / "run" / "seeds.jsonl").write_text((tmp_path / "r.jsonl").read_text())
    config = tmp_path / "c.yaml"
    config.write_text(RUN_CONFIG.format(run_dir="run", seeds="run/seeds.jsonl"))
    before = snapshot(tmp_path)
    result = run_cli("run", str(config))
    assert_one_line_error(result, "run_dir", "seeds.jsonl")
    assert snapshot(tmp_path) == before

    config.write_text(RUN_CONFIG.format(run_dir="t.txt", seeds="r.jsonl"))
    before = snapshot(tmp_path)
    result = run_cli("run", str(config))
    assert_one_line_error(result, "run_dir", "t.txt", "is a file")
    assert snapshot(tmp_path) == before
