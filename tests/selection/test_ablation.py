"""The ablation's random arm and its paired comparison."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from herdsman.selection.ablation import compare_arms, random_subset

pytestmark = pytest.mark.numeric  # run again under the other BLAS kernel by `make test`


def write_rows(path: Path, n: int) -> Path:
    path.write_text(
        "".join(json.dumps({"instruction": f"i{k}", "response": f"r{k}"}) + "\n" for k in range(n))
    )
    return path


def test_random_subset_is_seeded_sized_and_in_order(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "train.jsonl", 50)
    a = random_subset(source, 20, 7, tmp_path / "a.jsonl").read_text().splitlines()
    b = random_subset(source, 20, 7, tmp_path / "b.jsonl").read_text().splitlines()
    c = random_subset(source, 20, 8, tmp_path / "c.jsonl").read_text().splitlines()
    assert a == b and a != c and len(a) == 20 and len(set(a)) == 20
    numbers = [int(json.loads(line)["instruction"][1:]) for line in a]
    assert numbers == sorted(numbers)
    with pytest.raises(ValueError, match="21 from 20"):
        random_subset(tmp_path / "a.jsonl", 21, 0, tmp_path / "d.jsonl")


def test_compare_arms_pairs_items_and_states_a_verdict() -> None:
    imitation = {
        "scores": [
            {"model": "sel", "rouge_l_items": [0.5, 0.6, 0.7, 0.8], "embedding_items": [0.5] * 4},
            {"model": "rnd", "rouge_l_items": [0.1, 0.2, 0.3, 0.4], "embedding_items": [0.5] * 4},
        ]
    }
    benchmarks = {
        "models": [
            {"name": "sel", "scores": {"t": {"metric": "acc", "items": [1, 0, 1, 0]}}},
            {"name": "rnd", "scores": {"t": {"metric": "acc", "items": [1, 0, 0, 1]}}},
        ]
    }
    rows = {r["measure"]: r for r in compare_arms("sel", "rnd", imitation, benchmarks)}
    rouge = rows["imitation ROUGE-L"]
    assert rouge["difference"]["mean"] == pytest.approx(0.4)
    assert rouge["difference"]["n"] == 4
    assert rouge["verdict"].startswith("higher")
    assert rows["imitation embedding similarity"]["verdict"].startswith("cannot be told")
    assert rows["t (acc)"]["difference"]["mean"] == pytest.approx(0.0)
    # A model that is not there, or items that do not pair, give no row.
    assert compare_arms("sel", "missing", imitation, benchmarks) == []
    benchmarks["models"][1]["scores"]["t"]["items"] = [1, 0]
    assert "t (acc)" not in {r["measure"] for r in compare_arms("sel", "rnd", None, benchmarks)}
