"""Reading LaMini-format data from others: JSONL, Parquet, HF folders; bad columns named."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pandas as pd
import pytest

from herdsman.dataset.read import iter_core_rows, iter_rows, read_dataset
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


def test_streamed_rows_match_the_loaded_frame_in_every_format(tmp_path: Path) -> None:
    frame = read_dataset(require_data(*PREDICTIONS))
    rows = [
        {"instruction": i, "response": r, "instruction_source": "alpaca" if n % 2 else None}
        for n, (i, r) in enumerate(zip(frame["instruction"], frame["response"], strict=True))
    ]
    expected = [
        (r["instruction"], r["response"], r["instruction_source"] or "unlabelled") for r in rows
    ]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pd.DataFrame(rows).to_parquet(tmp_path / "d.parquet")
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list(rows[:200]),
            "held_out": datasets.Dataset.from_list(rows[200:]),
        }
    ).save_to_disk(str(tmp_path / "hf"))
    folder = tmp_path / "dataset"
    folder.mkdir()
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:100]))
    (folder / "held_out.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[100:]))
    for path in (jsonl, tmp_path / "d.parquet", tmp_path / "hf", folder):
        assert list(iter_core_rows(path)) == expected, path
        full = list(iter_rows(path))
        assert [(r["instruction"], r["response"], r["instruction_source"]) for r in full] == (
            expected
        ), path
    # Every column comes along, and the split is the file's or the DatasetDict's.
    assert [r.get("split") for r in iter_rows(folder)] == ["train"] * 100 + ["held_out"] * 152
    assert [r.get("split") for r in iter_rows(tmp_path / "hf")] == (
        ["train"] * 200 + ["held_out"] * 52
    )
    assert all("split" not in r for r in iter_rows(jsonl))
    # One split's own file or part only; a single file's rows all come (the caller filters).
    assert [r["split"] for r in iter_rows(folder, "held_out")] == ["held_out"] * 152
    assert [r["split"] for r in iter_rows(tmp_path / "hf", "held_out")] == ["held_out"] * 52
    assert len(list(iter_rows(jsonl, "held_out"))) == len(rows)


def test_streamed_full_rows_keep_every_column_and_name_bad_input(tmp_path: Path) -> None:
    rows = [
        {"instruction": "a", "response": "b", "id": 7, "tags": ["x", "y"]},
        {"instruction": "c", "response": "d", "id": 8, "tags": []},
    ]
    pd.DataFrame(rows).to_parquet(tmp_path / "d.parquet")
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for path in (tmp_path / "d.parquet", jsonl):
        assert list(iter_rows(path)) == [{**r, "instruction_source": "unlabelled"} for r in rows]
    pd.DataFrame([{"instruction": "a", "response": 3}]).to_parquet(tmp_path / "e.parquet")
    with pytest.raises(InputError, match=r"e.parquet: row 1: column 'response' is not a string"):
        list(iter_rows(tmp_path / "e.parquet"))
    with pytest.raises(InputError, match="no such file"):
        list(iter_rows(tmp_path / "missing.jsonl"))


def test_streamed_rows_name_bad_input(tmp_path: Path) -> None:
    rows = [{"instruction": "a", "response": "b"}, {"instruction": "c", "response": None}]
    pd.DataFrame(rows).to_parquet(tmp_path / "d.parquet")
    with pytest.raises(InputError, match=r"d.parquet: row 2: column 'response' is not a string"):
        list(iter_core_rows(tmp_path / "d.parquet"))
    pd.DataFrame([{"instruction": "a"}]).to_parquet(tmp_path / "e.parquet")
    with pytest.raises(
        InputError, match=r"missing column\(s\) response \(columns found: instruction\)"
    ):
        list(iter_core_rows(tmp_path / "e.parquet"))
    (tmp_path / "f.jsonl").write_text(
        '{"instruction": "a", "response": "b"}\n{"instruction": "a"}\n'
    )
    with pytest.raises(InputError, match=r"f.jsonl:2: missing column 'response'"):
        list(iter_core_rows(tmp_path / "f.jsonl"))
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match="cannot read Parquet"):
        list(iter_core_rows(tmp_path / "broken.parquet"))


def test_both_readers_label_sources_alike(tmp_path: Path) -> None:
    values = ["alpaca", "", None, 0, float("nan")]
    rows = [
        {"instruction": f"t{i}", "response": "r", "instruction_source": v}
        for i, v in enumerate(values)
    ]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows).replace("NaN", "null"))
    expected = ["alpaca", "unlabelled", "unlabelled", "0", "unlabelled"]
    assert read_dataset(path)["instruction_source"].tolist() == expected
    assert [s for _, _, s in iter_core_rows(path)] == expected
