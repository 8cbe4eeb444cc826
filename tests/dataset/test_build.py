"""Dataset assembly: cleaning, reproducible split, exports, atomic replacement."""

from __future__ import annotations

import json
import random
from pathlib import Path

import datasets
import pandas as pd
import pytest

from herdsman.config import DatasetConfig
from herdsman.dataset.build import build_dataset, held_out_count
from herdsman.errors import HerdsmanError, InputError
from tests.conftest import require_data


def lamini_rows(n: int = 200) -> list[dict]:
    """Real Alpaca instructions with their outputs as responses, in LaMini shape."""
    rows = json.loads(require_data("alpaca", "alpaca_5000.json").read_text())[:n]
    return [
        {
            "instruction": r["instruction"] + ("\n\n" + r["input"] if r["input"] else ""),
            "response": r["output"],
            "instruction_source": "alpaca",
            "teacher": "local",
            "model": "m",
            "prompt_tokens": 10,
            "seed_ids": ["a", "b"],
            "sampling": {"temperature": 0.0},
        }
        for r in rows
    ]


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def split_of(folder: Path) -> dict[str, str]:
    return {
        json.loads(line)["instruction"]: split
        for split in ("train", "held_out")
        for line in (folder / f"{split}.jsonl").open()
    }


def test_split_is_exact_reproducible_and_order_free(tmp_path: Path) -> None:
    rows = lamini_rows()
    settings = DatasetConfig(held_out=0.1)
    report = build_dataset(write(tmp_path / "a.jsonl", rows), tmp_path / "d1", settings, [])
    assert report.split_size("held_out") == 20 and report.split_size("train") == 180
    random.Random(1).shuffle(rows)
    build_dataset(write(tmp_path / "b.jsonl", rows), tmp_path / "d2", settings, [])
    assert split_of(tmp_path / "d1") == split_of(tmp_path / "d2")
    other = DatasetConfig(held_out=0.1, split_seed=7)
    build_dataset(tmp_path / "b.jsonl", tmp_path / "d3", other, [])
    assert split_of(tmp_path / "d3") != split_of(tmp_path / "d1")


def test_held_out_count_edges() -> None:
    assert held_out_count(1, 0.5) == 0
    assert held_out_count(10, 0.01) == 1  # never an empty held-out split when asked for one
    assert held_out_count(10, 0.99) == 9  # never an empty train split
    assert held_out_count(10, 0.0) == 0


def test_cleaning_and_all_three_formats(tmp_path: Path) -> None:
    rows = lamini_rows(50)
    rows.append(dict(rows[3]))  # repeated instruction
    rows.append({**rows[4], "instruction": "Say nothing.", "response": "  "})
    rows.append({"instruction": "No provenance at all", "response": "fine"})
    report = build_dataset(write(tmp_path / "in.jsonl", rows), tmp_path / "ds", DatasetConfig(), [])
    assert report.rows == 53 and report.duplicates == 1 and report.empty == 1 and report.kept == 51
    hf = datasets.load_from_disk(str(tmp_path / "ds" / "hf"))
    assert hf["train"].num_rows + hf["held_out"].num_rows == 51
    frame = pd.concat(
        pd.read_parquet(tmp_path / "ds" / f"{s}.parquet") for s in ("train", "held_out")
    )
    assert len(frame) == 51
    bare = frame[frame["instruction"] == "No provenance at all"].iloc[0]
    assert bare["instruction_source"] == "unlabelled" and bare["seed_ids"] is None
    full = frame[frame["instruction"] == rows[0]["instruction"]].iloc[0]
    assert list(full["seed_ids"]) == ["a", "b"] and json.loads(full["sampling"]) == {
        "temperature": 0.0
    }
    assert (tmp_path / "ds" / "hf" / "README.md").exists() is False  # no card asked for


def test_only_jsonl_when_asked(tmp_path: Path) -> None:
    build_dataset(
        write(tmp_path / "in.jsonl", lamini_rows(20)),
        tmp_path / "ds",
        DatasetConfig(formats=["jsonl"]),
        [],
    )
    names = {p.name for p in (tmp_path / "ds").iterdir()}
    assert {"train.jsonl", "held_out.jsonl", "stats.json"} <= names
    assert not names & {"train.parquet", "hf"}


def test_bad_row_keeps_the_old_dataset(tmp_path: Path) -> None:
    good = write(tmp_path / "in.jsonl", lamini_rows(20))
    build_dataset(good, tmp_path / "ds", DatasetConfig(), [])
    before = (tmp_path / "ds" / "train.jsonl").read_bytes()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good.read_text() + '{"instruction": "x"}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:21: column 'response' is missing"):
        build_dataset(bad, tmp_path / "ds", DatasetConfig(), [])
    assert (tmp_path / "ds" / "train.jsonl").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".ds")] == []


def test_no_usable_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "in.jsonl", [{"instruction": "a", "response": ""}])
    with pytest.raises(HerdsmanError, match="no usable rows"):
        build_dataset(path, tmp_path / "ds", DatasetConfig(), [])


def test_the_new_folder_is_durable_before_and_after_the_swap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.io.test_atomic import trace_fsyncs

    src = write(tmp_path / "in.jsonl", lamini_rows(40))
    out = tmp_path / "dataset"
    events = trace_fsyncs(monkeypatch)
    build_dataset(src, out, DatasetConfig(held_out=0.1, formats=["jsonl"]), [])
    names = sorted(p.name for p in out.iterdir())
    swapped = events.index(str(tmp_path))  # the parent, after the rename
    synced_before = {Path(e).name for e in events[:swapped]}
    assert set(names) <= synced_before  # every file was on disk before the folder was swapped in
    assert any(Path(e).name.startswith(".dataset.") for e in events[:swapped])  # and the folder
