"""Benchmark task sets: the paper's 15 lm-eval tasks and herdsman's offline suite.

The offline suite is six small task sets written for herdsman (multiple-choice
QA, NLI, paraphrase, coreference, sentence completion, sentiment) in the shapes
of the paper's benchmarks. Items ship in ``herdsman/data/eval/*.jsonl`` (the
dataset stage's decontamination reads the same files); :func:`write_task_dir`
writes lm-eval local-file task YAML pointing at them by absolute path, so
``lm_eval`` runs them with no network and no install step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from herdsman.io.bundled import bundled_file

OFFLINE_GROUP = "herdsman_offline"
PAPER_GROUP = "herdsman_paper"

# The paper's benchmarks by lm-eval task name, with the metric it reports
# (acc_norm where lm-eval's length-normalised score is the usual one).
PAPER_TASKS: dict[str, str] = {
    "openbookqa": "acc_norm",
    "sciq": "acc_norm",
    "race": "acc",
    "arc_challenge": "acc_norm",
    "piqa": "acc_norm",
    "record": "f1",
    "sst2": "acc",
    "mrpc": "acc",
    "rte": "acc",
    "mnli": "acc",
    "mnli_mismatch": "acc",
    "wsc273": "acc",
    "winogrande": "acc",
    "wic": "acc",
    "hellaswag": "acc_norm",
}


@dataclass(frozen=True)
class OfflineTask:
    """One offline task: its items file stem, prompt, choices, target and metric."""

    name: str
    shape: str
    doc_to_text: str
    doc_to_choice: str
    doc_to_target: str
    metric: str = "acc"


OFFLINE_TASKS: tuple[OfflineTask, ...] = (
    OfflineTask(
        "herdsman_mcqa",
        "multiple-choice QA",
        "Question: {{question}}\\nAnswer:",
        "{{choices}}",
        "answer",
        "acc_norm",
    ),
    OfflineTask(
        "herdsman_nli",
        "NLI",
        "{{premise}}\\nQuestion: {{hypothesis}} True, False or Neither?\\nAnswer:",
        '["True", "Neither", "False"]',
        "label",
    ),
    OfflineTask(
        "herdsman_paraphrase",
        "paraphrase",
        "Sentence 1: {{sentence1}}\\nSentence 2: {{sentence2}}\\n"
        "Question: Do both sentences mean the same thing?\\nAnswer:",
        '["no", "yes"]',
        "label",
    ),
    OfflineTask(
        "herdsman_coref",
        "coreference",
        '{{sentence}}\\nQuestion: In the sentence above, who or what does \\"{{pronoun}}\\" '
        "refer to?\\nAnswer:",
        "{{options}}",
        "answer",
    ),
    OfflineTask(
        "herdsman_completion",
        "sentence completion",
        "{{context}}",
        "{{endings}}",
        "answer",
        "acc_norm",
    ),
    OfflineTask(
        "herdsman_sentiment",
        "sentiment",
        "{{sentence}}\\nQuestion: Is this sentence positive or negative?\\nAnswer:",
        '["negative", "positive"]',
        "label",
    ),
)

TASK_METRICS: dict[str, str] = {
    **PAPER_TASKS,
    **{task.name: task.metric for task in OFFLINE_TASKS},
}
GROUPS: dict[str, list[str]] = {
    OFFLINE_GROUP: [task.name for task in OFFLINE_TASKS],
    PAPER_GROUP: list(PAPER_TASKS),
}


def suite_dir() -> Path:
    """The folder of the offline suite's item files."""
    return bundled_file("eval")


def items_file(task: OfflineTask) -> Path:
    """The JSONL items of one offline task."""
    return suite_dir() / f"{task.name}.jsonl"


def _task_yaml(task: OfflineTask) -> str:
    path = str(items_file(task)).replace('"', '\\"')
    return (
        f"task: {task.name}\n"
        "dataset_path: json\n"
        "dataset_kwargs:\n"
        "  data_files:\n"
        f'    test: "{path}"\n'
        "test_split: test\n"
        "output_type: multiple_choice\n"
        f'doc_to_text: "{task.doc_to_text}"\n'
        f"doc_to_choice: '{task.doc_to_choice}'\n"
        f"doc_to_target: {task.doc_to_target}\n"
        "metric_list:\n"
        "  - metric: acc\n"
        "    aggregation: mean\n"
        "    higher_is_better: true\n"
        "  - metric: acc_norm\n"
        "    aggregation: mean\n"
        "    higher_is_better: true\n"
        "metadata:\n"
        "  version: 1.0\n"
    )


def write_task_dir(folder: Path) -> Path:
    """Write the offline tasks as lm-eval task YAML into ``folder`` (for ``include_path``).

    Returns:
        ``folder``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for task in OFFLINE_TASKS:
        (folder / f"{task.name}.yaml").write_text(_task_yaml(task))
    return folder


def expand_tasks(names: list[str]) -> list[str]:
    """Replace herdsman's group names by their tasks, keeping order, without repeats."""
    out: list[str] = []
    for name in names:
        for task in GROUPS.get(name, [name]):
            if task not in out:
                out.append(task)
    return out


def headline_metric(task: str, metrics: dict[str, float]) -> tuple[str, float] | None:
    """The metric the paper reports for ``task`` (acc/acc_norm/f1), from lm-eval's results."""
    wanted = TASK_METRICS.get(task)
    for name in (wanted, "acc_norm", "acc", "f1", "exact_match"):
        if name and name in metrics:
            return name, metrics[name]
    return None
