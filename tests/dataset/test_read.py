"""Reading LaMini-format data from others: JSONL, Parquet, HF folders; bad columns named."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pandas as pd
import pytest

from herdsman.dataset.read import read_dataset
from herdsman.errors import InputError
from tests.conftest import assert_one_line_error, require_data, run_cli

PREDICTIONS = ("self_instruct", "predictions", "davinci_predictions.jsonl")


def test_published_predictions_load_unlabelled() -> None:
    frame = read_dataset(require_data(*PREDICTIONS))
    assert len(frame) == 252
    assert set(frame["instruction_source"]) == {"unlabelled"}


def test_parquet_and_hf_folder(tmp_path: Path) -> None:
    rows = [
        {"instruction": f"Task {i}", "response": f"Answer {i}", "instruction_source": "alpaca"}
        for i in range(5)
    ]
    pd.DataFrame(rows).to_parquet(tmp_path / "d.parquet")
    assert read_dataset(tmp_path / "d.parquet")["instruction"].tolist()[-1] == "Task 4"
    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list(rows[:3]),
            "test": datasets.Dataset.from_list(rows[3:]),
        }
    )
    dd.save_to_disk(str(tmp_path / "hf"))
    frame = read_dataset(tmp_path / "hf")
    assert len(frame) == 5 and set(frame["split"]) == {"train", "test"}


def test_missing_columns_are_named(tmp_path: Path) -> None:
    alpaca = require_data("alpaca", "alpaca_5000.json")
    rows = json.loads(alpaca.read_text())[:3]
    path = tmp_path / "alpaca.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InputError, match=r"alpaca.jsonl:1: missing column 'response'"):
        read_dataset(path)
    pd.DataFrame(rows).to_parquet(tmp_path / "alpaca.parquet")
    with pytest.raises(InputError, match=r"missing column.*response.*columns found: instruction"):
        read_dataset(tmp_path / "alpaca.parquet")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "a", "response": "b"}\n{"instruction": 3, "response": "b"}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: column 'instruction': expected a string"):
        read_dataset(bad)


def test_analyze_cli_names_the_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "alpaca.jsonl"
    path.write_text(json.dumps({"instruction": "x", "output": "y"}) + "\n")
    result = run_cli("analyze", str(path), "-o", str(tmp_path / "out"), "--no-embed")
    assert_one_line_error(result, "alpaca.jsonl:1", "response")
    assert not (tmp_path / "out").exists()
