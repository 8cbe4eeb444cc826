"""Benchmarks through lm-eval's Python API on real (tiny) models, offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from herdsman.errors import HerdsmanError
from herdsman.evaluate.benchmarks import TaskSet, _wrapped_lm_class, evaluate_model, run_benchmarks
from herdsman.evaluate.models import collect_models
from herdsman.train.wrappers import ALPACA
from tests.evaluate.models_fixture import tiny_seq2seq_student, tiny_student


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


def test_unknown_task_lists_close_matches_and_unreachable_data_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Make the paper's SST-2 unreachable whatever is cached locally or reachable:
    # offline, with empty dataset and hub caches.
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    task_set = TaskSet(["herdsman_sentiment", "sst2"])
    ready = task_set.check_data()
    assert ready == ["herdsman_sentiment"]
    assert task_set.unavailable["sst2"].startswith("data not reachable")
    with pytest.raises(HerdsmanError, match="close matches: herdsman_sentiment"):
        task_set.check_names(["herdsman_sentimnet"])
    with pytest.raises(HerdsmanError, match=r"unknown benchmark task 'zzqqxx'$"):
        task_set.check_names(["zzqqxx"])


def test_none_wrapper_scores_equal_lm_evals_own_hflm(tmp_path: Path) -> None:
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    tasks = ["herdsman_sentiment", "herdsman_mcqa"]
    folder = tiny_student(tmp_path, name="plain", wrapper="none")
    [model] = collect_models([folder], with_bases=False)
    task_set = TaskSet(tasks)
    ours = evaluate_model(model, task_set, task_set.check_data(), limit=8, batch_size=4)
    theirs = simple_evaluate(
        model=HFLM(pretrained=str(folder), device="cpu", batch_size=4), tasks=tasks, limit=8,
        task_manager=task_set.manager, log_samples=True, bootstrap_iters=0, verbosity="ERROR",
    )  # fmt: skip
    assert theirs is not None
    for task in tasks:
        score = ours.scores[task]
        assert score.value == theirs["results"][task][f"{score.metric},none"], task
    # Item by item, the same log-likelihoods as lm-eval's own HFLM.
    lm = _wrapped_lm_class()(pretrained=str(folder), device="cpu", batch_size=4, wrapper="none")
    mine = simple_evaluate(
        model=lm, tasks=tasks, limit=8, task_manager=task_set.manager,
        log_samples=True, bootstrap_iters=0, verbosity="ERROR",
    )  # fmt: skip
    assert mine is not None
    for task in tasks:
        a = [s["resps"] for s in mine["samples"][task]]
        b = [s["resps"] for s in theirs["samples"][task]]
        assert len(a) == 8 and str(a) == str(b), task
