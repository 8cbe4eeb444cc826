"""The scale benchmark, small: every stage runs, the figures it prints are the ones it measured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.data import CHECKOUT, public_data

SCRIPT = CHECKOUT / "benchmarks" / "bench_scale.py"


@pytest.mark.slow
def test_small_scale_run(tmp_path: Path) -> None:
    args = [
        "--sizes", "1500,3000", "--topics-rows", "30000",
        "--recall-rows", "3000", "--exhaustive-rows", "150", "--embed-sample", "100",
        "--dir", str(tmp_path), "--data", str(public_data()),
        "--stages", "dedup,quality,respond,dataset,analyze",
    ]  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    stages = results["stages"]
    assert set(stages) == {"dedup", "quality", "respond", "dataset", "analyze", "topics"}
    for stage, runs in stages.items():
        for size, run in runs.items():
            assert run["rc"] == 0, (stage, size, Path(run["log"]).read_text()[-2000:])
            assert run["seconds"] > 0 and 10 * 2**20 < run["rss"] < 8 * 2**30
    recall = results["recall"]
    assert recall["rows"] == 3000 and recall["exact_equals_exhaustive"] is True
    assert recall["exact_near"] > 100 and recall["recall"] >= 0.97
    # respond wrote every row from the store without asking the (refusing) teacher.
    log = Path(stages["respond"]["3000"]["log"]).read_text()
    assert json.loads(log.strip().splitlines()[-1]) == {"written": 3000}
    # The corpus has LaMini's seven sources and the planted duplicates.
    corpus = [json.loads(x) for x in (tmp_path / "corpus_3000.jsonl").read_text().splitlines()]
    assert len({r["instruction_source"] for r in corpus}) == 7
    assert len({" ".join(r["instruction"].lower().split()) for r in corpus}) < 0.99 * len(corpus)
    lines = done.stdout.splitlines()
    assert any(line.startswith("| dedup | 3,000 |") for line in lines)
    assert any(line.startswith("- dedup at 3,000 rows:") and line.endswith("met") for line in lines)
