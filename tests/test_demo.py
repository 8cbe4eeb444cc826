"""The demo, end to end on the embedded teacher: runs once in CI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

pytestmark = pytest.mark.slow


def test_quick_demo_writes_lamini_records_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    first = run_cli("demo", "--quick", "--out", str(out))
    assert first.returncode == 0, first.stderr
    rows = [
        json.loads(line) for line in (out / "dataset" / "lamini.jsonl").read_text().splitlines()
    ]
    assert len(rows) == 8
    assert all(r["response"].strip() for r in rows)
    assert {r["instruction_source"] for r in rows} == {"self_instruct_without_topic"}
    assert all(r["teacher"] == "local" and r["model"] == "smollm2-135m-instruct" for r in rows)
    again = run_cli("demo", "--quick", "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert "0 answered, 8 already done" in again.stderr
