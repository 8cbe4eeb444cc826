"""Benchmarks through lm-eval's Python API on real (tiny) models, offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from herdsman.errors import HerdsmanError
from herdsman.evaluate.benchmarks import TaskSet, _wrapped_lm_class, run_benchmarks
from herdsman.evaluate.models import collect_models
from herdsman.train.wrappers import ALPACA
from tests.eval_models_fixture import tiny_seq2seq_student, tiny_student


def test_scores_for_students_and_bases(tmp_path: Path) -> None:
    models = collect_models([tiny_student(tmp_path), tiny_seq2seq_student(tmp_path)])
    result = run_benchmarks(models, ["herdsman_sentiment", "herdsman_mcqa"], limit=6, batch_size=4)
    assert result["tasks"] == ["herdsman_sentiment", "herdsman_mcqa"]
    assert result["unavailable"] == {}
    rows = {m["name"]: m for m in result["models"]}
    assert set(rows) == {"tiny-student", "tiny-base (base)", "tiny-t5", "tiny-t5-base (base)"}
    for row in rows.values():
        assert row["parameters"] > 0
        assert set(row["scores"]) == {"herdsman_sentiment", "herdsman_mcqa"}
        assert row["scores"]["herdsman_mcqa"]["metric"] == "acc_norm"
        assert all(0.0 <= s["value"] <= 1.0 for s in row["scores"].values())
        assert row["mean"] == pytest.approx(sum(s["value"] for s in row["scores"].values()) / 2)


def test_students_see_their_wrapper(tmp_path: Path) -> None:
    from lm_eval import simple_evaluate

    student = tiny_student(tmp_path)
    task_set = TaskSet(["herdsman_sentiment"])
    lm = _wrapped_lm_class()(pretrained=str(student), device="cpu", batch_size=2, wrapper="alpaca")
    out = simple_evaluate(
        model=lm, tasks=["herdsman_sentiment"], limit=2, task_manager=task_set.manager,
        apply_chat_template=True, log_samples=True, bootstrap_iters=0,
    )  # fmt: skip
    assert out is not None
    sample = out["samples"]["herdsman_sentiment"][0]
    context, continuation = sample["arguments"][0]  # (context, continuation) per choice
    assert context.startswith(ALPACA.split("{instruction}")[0])
    assert context.endswith("### Response:\n")
    assert continuation in ("negative", "positive")  # right after the wrapper, no delimiter


def test_unknown_task_lists_close_matches_and_unreachable_data_is_reported() -> None:
    task_set = TaskSet(["herdsman_sentiment", "sst2"])  # the paper's SST-2: not cached here
    ready = task_set.check_data()
    assert ready == ["herdsman_sentiment"]
    assert "sst2" in task_set.unavailable
    with pytest.raises(HerdsmanError, match="close matches: herdsman_sentiment"):
        task_set.check_names(["herdsman_sentimnet"])
    with pytest.raises(HerdsmanError, match=r"unknown benchmark task 'zzqqxx'$"):
        task_set.check_names(["zzqqxx"])
