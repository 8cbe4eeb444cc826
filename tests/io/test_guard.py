"""The one output rule (herdsman.io.guard): no output destroys an input or another output."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from herdsman.io.guard import Input, Output, PathConflict, check_paths


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text('{"instruction": "a"}\n')
    return path


def refused(inputs: list[Input], outputs: list[Output], *needles: str) -> str:
    with pytest.raises(PathConflict) as caught:
        check_paths(inputs, outputs)
    message = str(caught.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message
    return message


def test_same_path_symlink_and_hard_link_are_the_input(data: Path) -> None:
    refused([Input(data, "IN")], [Output(data)], "same path", str(data))
    link = data.with_name("link.jsonl")
    link.symlink_to(data)
    refused([Input(data, "IN")], [Output(link)], "link", str(link), str(data))
    hard = data.with_name("hard.jsonl")
    os.link(data, hard)
    refused([Input(data, "IN")], [Output(hard)], "same file", str(hard), str(data))
    dotted = data.parent / "." / data.name
    refused([Input(data, "IN")], [Output(dotted)], str(data))


def test_two_outputs_may_not_be_one_file(tmp_path: Path, data: Path) -> None:
    out = tmp_path / "o.jsonl"
    refused([Input(data)], [Output(out, "-o"), Output(out, "--removed")], "-o", "--removed")


def test_a_folder_that_rewrites_an_input(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "train.jsonl").write_text("{}\n")
    refused([Input(ds, "DATASET")], [Output(ds, kind="folder")], "same path")
    # An output folder above the input that rewrites it, by name.
    refused(
        [Input(ds / "train.jsonl")],
        [Output(ds, kind="folder", writes=("train.jsonl",))],
        "rewrites",
    )
    # ... but one that writes other names leaves it alone.
    check_paths([Input(ds / "train.jsonl")], [Output(ds, kind="folder", writes=("analysis.json",))])
    # A report written into the run folder it reads is fine; over a file it reads is not.
    check_paths([Input(ds, reads=("train.jsonl",))], [Output(ds / "report.html")])
    refused([Input(ds, reads=("train.jsonl",))], [Output(ds / "train.jsonl")], "read from")


def test_kind_suffix_and_parent_checks(tmp_path: Path, data: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    refused([], [Output(folder)], "is a folder")
    refused([], [Output(data, kind="folder")], "is a file")
    refused([], [Output(data / "x.json")], "not a folder")
    refused([], [Output(tmp_path / "x.jsonl", suffixes=(".csv", ".json"))], ".csv", ".jsonl")
    check_paths([], [Output(tmp_path / "x.CSV", suffixes=(".csv",))])
    check_paths([], [Output(tmp_path / "new" / "deeper", kind="folder")])
    assert not (tmp_path / "new").exists()  # the check writes nothing
