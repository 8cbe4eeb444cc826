"""``select_dataset`` and ``herdsman select`` on real Alpaca pairs, judged by the loopback stub teacher."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from herdsman.config import SelectConfig
from herdsman.errors import HerdsmanError, InputError
from herdsman.selection.selector import Judge, select_dataset
from herdsman.store.run_store import RunStore
from herdsman.teachers.factory import build_teacher
from herdsman.teachers.registry import teacher_options
from herdsman.testing.stub_server import StubServer
from tests.conftest import assert_one_line_error, run_cli
from tests.helpers.tiny_models import alpaca_dataset, tiny_causal


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def scorer(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny decoder-only scorer (IFD's meaning is tested with SmolLM2 in test_ifd.py)."""
    return str(tiny_causal(tmp_path_factory.mktemp("scorer") / "tiny", initializer_range=0.2))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A herdsman dataset folder of 48 real Alpaca pairs, 8 held out, two sources."""
    folder = alpaca_dataset(tmp_path_factory.mktemp("data") / "dataset", n=48, held_out=1 / 6)
    path = folder / "train.jsonl"
    rows = lines(path)
    for n, row in enumerate(rows):
        row["instruction_source"] = "alpaca" if n % 4 else "other"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def judge_for(stub: StubServer, store: Path) -> Judge:
    teacher = build_teacher(
        teacher_options(backend="openai", model="stub", base_url=stub.url, max_retries=0)
    )
    return Judge(teacher, RunStore(store))


def test_select_scores_floors_and_diversity(
    dataset: Path, scorer: str, stub: StubServer, tmp_path: Path
) -> None:
    cfg = SelectConfig(enabled=True, fraction=0.5, min_quality=2.0, quotas={"other": 0.25})
    out = tmp_path / "selected"
    judge = judge_for(stub, tmp_path / "store.sqlite")
    report = select_dataset(dataset, out, cfg, scorer=scorer, judge=judge, log=lambda _: None)
    train = lines(dataset / "train.jsonl")
    kept = lines(out / "train.jsonl")
    scores = lines(out / "scores.jsonl")
    assert report["candidates"] == len(train) == len(scores) == 40
    assert report["target"] == 20
    # Every kept row passed every floor and carries its scores as columns.
    for row in kept:
        assert row["score_quality"] >= 2.0 and row["score_ifd"] < 1.0
        assert row["score_length"] == len(row["response"].split())
    # The stub grades by a hash of the answer, so some pairs fall below the floor.
    below = [s for s in scores if s.get("reason") == "quality below the floor"]
    assert below and not any(s["kept"] for s in below)
    assert len(kept) == report["kept"] == sum(s["kept"] for s in scores)
    assert len(kept) <= 20
    # The quota: a quarter of the target from 'other', when enough of it passes.
    other = report["quotas"]["other"]
    assert sum(r["instruction_source"] == "other" for r in kept) == min(5, other["available"])
    assert report["by_source"]["other"]["before"] == 10
    # Kept rows are the input's rows, in input order, unchanged but for the score columns.
    originals = [{k: v for k, v in r.items() if not k.startswith("score_")} for r in kept]
    positions = [train.index(r) for r in originals]
    assert positions == sorted(positions)
    # The held-out split is copied as it is.
    assert (out / "held_out.jsonl").read_text() == (dataset / "held_out.jsonl").read_text()
    card = (out / "README.md").read_text()
    assert f"Kept **{len(kept)}** of 40" in card and "quality below the floor" in card
    assert report["diversity"]["mean_cosine_distance_kept"] is not None
    assert json.loads((out / "selection.json").read_text())["kept"] == len(kept)
    # A re-run makes no judge call and no IFD forward pass: judge calls are in the
    # store, IFD scores in the cache.
    calls = stub.state.requests
    again = select_dataset(dataset, out, cfg, scorer=scorer, judge=judge, log=lambda _: None)
    assert stub.state.requests == calls
    assert again["kept"] == report["kept"]


def test_k_center_keeps_a_more_diverse_set_than_random(dataset: Path, tmp_path: Path) -> None:
    cfg = SelectConfig(enabled=True, size=10, scores=["length"])
    report = select_dataset(dataset, tmp_path / "out", cfg, log=lambda _: None)
    diversity = report["diversity"]
    assert diversity["mean_cosine_distance_kept"] > diversity["mean_cosine_distance_random"]
    with pytest.raises(HerdsmanError, match="no training pair passed the score floors"):
        select_dataset(
            dataset, tmp_path / "none-pass", cfg.model_copy(update={"min_words": 10_000})
        )
    none = select_dataset(
        dataset, tmp_path / "none", cfg.model_copy(update={"diversity": "none"}), log=lambda _: None
    )
    assert none["kept"] == 10


def test_bad_input_fails_before_any_scoring(
    dataset: Path, scorer: str, stub: StubServer, tmp_path: Path
) -> None:
    judge = judge_for(stub, tmp_path / "store.sqlite")
    out = tmp_path / "out"
    cases = [
        (SelectConfig(enabled=True, size=41), "select.size 41 is more than the 40 training pairs"),
        (SelectConfig(enabled=True, size=5, quotas={"nowhere": 0.5}), r"select\.quotas\.nowhere"),
    ]
    for cfg, message in cases:
        with pytest.raises(InputError, match=message):
            select_dataset(dataset, out, cfg, scorer=scorer, judge=judge, log=lambda _: None)
    with pytest.raises(HerdsmanError, match=r"cannot load|not a local folder"):
        select_dataset(
            dataset, out, SelectConfig(enabled=True, size=5), scorer="./nope", judge=judge
        )
    missing = tmp_path / "bad.jsonl"
    missing.write_text('{"instruction": "a"}\n')
    with pytest.raises(InputError, match="missing column 'response'"):
        select_dataset(missing, out, SelectConfig(enabled=True, size=1), judge=judge)
    assert stub.state.requests == 0 and not out.exists()


def test_config_rejects_contradictions() -> None:
    from pydantic import ValidationError

    for bad in (
        {"enabled": True},
        {"enabled": True, "size": 3, "fraction": 0.5},
        {"enabled": True, "size": 3, "scores": ["ifd"], "min_quality": 3},
        {"enabled": True, "size": 3, "quotas": {"a": 0.7, "b": 0.7}},
    ):
        with pytest.raises(ValidationError):
            SelectConfig(**bad)


def test_cli_select_and_its_errors(dataset: Path, stub: StubServer, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    result = run_cli(
        "select", str(dataset), "-o", str(out), "--size", "8", "--scores", "quality,length",
        "--min-quality", "2", "--teacher", "openai", "--model", "stub",
        "--base-url", stub.url, "--max-retries", "0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    kept = lines(out / "train.jsonl")
    assert 0 < len(kept) <= 8 and all(r["score_quality"] >= 2 for r in kept)
    assert (out / ".herdsman" / "store.sqlite").is_file()
    assert_one_line_error(
        run_cli("select", str(dataset), "-o", str(out), "--size", "999", "--scores", "length"),
        "999",
    )
    assert_one_line_error(
        run_cli("select", str(dataset), "-o", str(out), "--scores", "length"),
        "size",
    )
    assert_one_line_error(
        run_cli("select", str(dataset), "-o", str(out), "--size", "2", "--quota", "junk"),
        "--quota junk",
    )
    assert_one_line_error(
        run_cli(
            "select",
            str(dataset),
            "-o",
            str(out),
            "--size",
            "2",
            "--scores",
            "ifd",
            "--scorer",
            str(tmp_path / "missing-model"),
        ),
        "missing-model",
    )


SELECT_PEAK = """
import sys, tracemalloc
from pathlib import Path
import sentence_transformers  # the embedder's imports are not the selection's memory
from herdsman.config import SelectConfig
from herdsman.selection.selector import select_dataset
cfg = SelectConfig(enabled=True, size=20, scores=["length"], diversity="none")
tracemalloc.start()
select_dataset(Path(sys.argv[1]), Path(sys.argv[2]), cfg, log=lambda _: None)
print(tracemalloc.get_traced_memory()[1])
"""


def _peak_select(rows: int, folder: Path) -> int:
    """Peak Python allocations of a length-only selection on ``rows`` pairs of 2-5 KB."""
    import subprocess
    import sys

    folder.mkdir()
    words = [f"word{k}" for k in range(600)]
    with (folder / "train.jsonl").open("w") as out:
        for n in range(rows):
            body = " ".join(words[(n + k) % 600] for k in range(300 + n % 300))
            out.write(json.dumps({"instruction": f"Task {n}: {body[:200]}", "response": body}))
            out.write("\n")
    (folder / "held_out.jsonl").write_text(
        json.dumps({"instruction": "Held out", "response": "kept as it is"}) + "\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", SELECT_PEAK, str(folder), str(folder.parent / f"sel{rows}")],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(result.stdout.split()[-1])


def test_select_memory_does_not_grow_with_the_text(tmp_path: Path) -> None:
    """Five times the pairs (over 20 MB more text) leave the peak of Python allocations
    about where it was: the dataset is streamed, not loaded (what grows per pair is a
    source label reference and a word count)."""
    small = _peak_select(1_500, tmp_path / "small")
    large = _peak_select(7_500, tmp_path / "large")
    text = sum(len(line) for line in (tmp_path / "large" / "train.jsonl").open()) - sum(
        len(line) for line in (tmp_path / "small" / "train.jsonl").open()
    )
    assert text > 20e6
    assert large - small < text / 10, (small, large, text)
    kept = lines(tmp_path / "sel7500" / "train.jsonl")
    # No quality or IFD to rank by: the first rows, each with its word count.
    assert [r["instruction"].split(":")[0] for r in kept] == [f"Task {n}" for n in range(20)]
    assert [r["score_length"] for r in kept] == [300 + n for n in range(20)]
    assert lines(tmp_path / "sel7500" / "held_out.jsonl") == [
        {"instruction": "Held out", "response": "kept as it is", "instruction_source": "unlabelled"}
    ]
