"""The offline benchmark suite: item files and the lm-eval task YAML written for them."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from herdsman.evaluate.offline_suite import (
    OFFLINE_GROUP,
    OFFLINE_TASKS,
    PAPER_TASKS,
    expand_tasks,
    headline_metric,
    items_file,
    write_task_dir,
)

CHOICES = {
    "herdsman_mcqa": ("choices", "answer", 4),
    "herdsman_completion": ("endings", "answer", 4),
    "herdsman_coref": ("options", "answer", 2),
    "herdsman_nli": (None, "label", 3),
    "herdsman_paraphrase": (None, "label", 2),
    "herdsman_sentiment": (None, "label", 2),
}


@pytest.mark.parametrize("task", OFFLINE_TASKS, ids=lambda t: t.name)
def test_items_are_well_formed_and_balanced(task) -> None:  # type: ignore[no-untyped-def]
    rows = [json.loads(line) for line in items_file(task).read_text().splitlines()]
    assert len(rows) >= 35
    assert len({r["id"] for r in rows}) == len(rows)
    assert len({json.dumps({k: v for k, v in r.items() if k != "id"}) for r in rows}) == len(rows)
    field, target, n = CHOICES[task.name]
    labels = Counter(r[target] for r in rows)
    assert set(labels) == set(range(n))  # every answer position is used
    assert max(labels.values()) - min(labels.values()) <= 2  # and about equally often
    if field:
        assert all(len(r[field]) == n and len(set(r[field])) == n for r in rows)


def test_suite_size() -> None:
    total = sum(len(items_file(t).read_text().splitlines()) for t in OFFLINE_TASKS)
    assert total >= 250


def test_lm_eval_loads_every_offline_task(tmp_path: Path) -> None:
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(write_task_dir(tmp_path)), include_defaults=False)
    loaded = manager.load([t.name for t in OFFLINE_TASKS])
    tasks = {getattr(t, "task_name", None) or t.config.task: t for t in loaded["tasks"].values()}
    assert set(tasks) == {t.name for t in OFFLINE_TASKS}
    nli = tasks["herdsman_nli"]
    doc = next(iter(nli.test_docs()))
    assert nli.doc_to_text(doc).endswith("True, False or Neither?\nAnswer:")
    assert nli.doc_to_choice(doc) == ["True", "Neither", "False"]
    coref = tasks["herdsman_coref"]
    doc = next(iter(coref.test_docs()))
    assert '"it"' in coref.doc_to_text(doc) and coref.doc_to_choice(doc) == doc["options"]


def test_groups_and_metrics() -> None:
    assert expand_tasks([OFFLINE_GROUP, "herdsman_nli", "rte"])[-1] == "rte"
    assert len(expand_tasks([OFFLINE_GROUP, "herdsman_nli"])) == len(OFFLINE_TASKS)
    assert len(PAPER_TASKS) == 15
    assert headline_metric("hellaswag", {"acc": 0.3, "acc_norm": 0.4}) == ("acc_norm", 0.4)
    assert headline_metric("record", {"f1": 0.5, "em": 0.4}) == ("f1", 0.5)
    assert headline_metric("herdsman_nli", {"acc": 0.5, "acc_norm": 0.6}) == ("acc", 0.5)
