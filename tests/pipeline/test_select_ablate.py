"""``select`` and ``ablate`` in a real pipeline: stub teacher, tiny T5 student, real evaluation."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from herdsman.testing.stub_server import StubServer
from tests.conftest import assert_one_line_error, run_cli
from tests.helpers.tiny_models import tiny_t5
from tests.pipeline.test_runner import CONFIG, make_project

SELECT = """\
students:
  - {{name: tiny-t5, base: {base}, batch_size: 4, per_device_batch_size: 4,
     max_length: 96, max_steps: 3, learning_rate: 1.0e-3}}
select:
  enabled: true
  fraction: 0.5
  min_quality: 2.0
evaluation:
  tasks: [herdsman_sentiment]
  limit: 4
  bases: false
  imitation_items: 6
  max_new_tokens: 8
  judge: {{enabled: false}}
"""


@pytest.mark.slow
def test_select_then_ablate_reports_a_paired_difference(stub: StubServer, tmp_path: Path) -> None:
    config = make_project(tmp_path, stub.url)
    base = tiny_t5(tmp_path / "tiny-t5-base")
    config.write_text(config.read_text() + SELECT.format(base=base))
    result = run_cli("ablate", str(config))
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    selection = json.loads((run / "selected" / "selection.json").read_text())
    dataset_train = (run / "dataset" / "train.jsonl").read_text().splitlines()
    assert selection["candidates"] == len(dataset_train)
    assert selection["scorer"] == str(base)  # default: the first pretrained student's base
    assert set(selection["scores"]) == {"quality", "ifd", "length"}
    kept = (run / "selected" / "train.jsonl").read_text().splitlines()
    assert len(kept) == selection["kept"] <= selection["target"]
    # The student trained on the selected pairs, the random arm on as many random ones.
    record = json.loads((run / "students" / "tiny-t5" / "herdsman-train.json").read_text())
    assert record["examples"] == len(kept)
    random_rows = (run / "ablation" / "random" / "train.jsonl").read_text().splitlines()
    assert len(random_rows) == len(kept) and set(random_rows) <= set(dataset_train)
    ablation = json.loads((run / "ablation" / "ablation.json").read_text())
    assert ablation["arms"]["selected"]["steps"] == ablation["arms"]["random"]["steps"] == 3
    measures = {c["measure"]: c for c in ablation["comparisons"]}
    assert {"imitation ROUGE-L", "herdsman_sentiment (acc)"} <= set(measures)
    assert measures["imitation ROUGE-L"]["difference"]["n"] == 6
    assert measures["herdsman_sentiment (acc)"]["difference"]["n"] == 4
    html = (run / "report.html").read_text()
    assert "Training-data selection" in html and "Did the selection help?" in html
    assert measures["imitation ROUGE-L"]["verdict"] in html
    assert not re.search(r"\bnan\b|\bNone\b|Undefined", html)
    # Up to date: a second ablate trains and calls nothing.
    calls = stub.state.requests
    again = run_cli("ablate", str(config))
    assert again.returncode == 0 and stub.state.requests == calls
    assert "ablate: up to date" in again.stdout + again.stderr


def test_ablate_needs_a_selection(stub: StubServer, tmp_path: Path) -> None:
    config = make_project(tmp_path, stub.url)
    assert_one_line_error(run_cli("ablate", str(config)), "select")
    config.write_text(
        CONFIG.format(url=stub.url, analyze="false")
        + "students:\n  - {name: s, base: t5-scratch}\n"
        + "select: {enabled: true, size: 5, ablation: {enabled: true, student: other}}\n"
    )
    assert_one_line_error(run_cli("run", str(config)), "no student named 'other'")
    config.write_text(
        CONFIG.format(url=stub.url, analyze="false")
        + "students:\n  - {name: s, base: t5-scratch}\n"
        + "select: {enabled: true, size: 5, scores: [ifd]}\n"
    )
    assert_one_line_error(run_cli("run", str(config)), "select.scorer")
    assert stub.state.requests == 0  # refused before generate or respond spent anything
