"""Zero-shot benchmarks through lm-evaluation-harness's Python API.

Every model is evaluated through lm-eval's ``HFLM`` on the same tasks. A
decoder-only student sees each task prompt inside the wrapper it was trained
with: :class:`WrappedHFLM` plugs the wrapper in as lm-eval's "chat template",
so lm-eval puts the answer right after the wrapper (no extra delimiter), exactly
where the student learned to answer. Encoder-decoder models take the raw prompt
as encoder input, as in the paper.

Task names are checked before any model is loaded (close matches are listed
for a typo); a task whose data cannot be reached (no network, not cached) is
reported as unavailable, not fatal, so the paper's 15 run wherever they can and
the offline suite runs everywhere.
"""

from __future__ import annotations

import difflib
import logging
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from herdsman.console import quiet_progress_bars
from herdsman.errors import HerdsmanError
from herdsman.evaluate.intervals import paired_difference, verdict
from herdsman.evaluate.models import EvalModel
from herdsman.evaluate.offline_suite import (
    GROUPS,
    OFFLINE_TASKS,
    expand_tasks,
    headline_metric,
    write_task_dir,
)
from herdsman.train.wrappers import wrap

log = logging.getLogger(__name__)


@dataclass
class Score:
    """One task's headline score for one model.

    ``items`` holds the per-item values of the metric in document order, so a
    student and its base can be compared on the same items; ``n`` is their
    number; the 95% interval is ``value`` plus or minus 1.96 standard errors.
    """

    metric: str
    value: float
    stderr: float | None = None
    items: tuple[float, ...] = ()

    @property
    def n(self) -> int:
        """Items scored."""
        return len(self.items)

    def interval(self) -> tuple[float, float] | None:
        """The 95% interval from lm-eval's standard error (``None`` without one)."""
        if self.stderr is None:
            return None
        low, high = self.value - 1.96 * self.stderr, self.value + 1.96 * self.stderr
        if self.metric.startswith("acc"):  # a proportion stays within [0, 1]
            low, high = max(0.0, low), min(1.0, high)
        return (low, high)


@dataclass
class ModelScores:
    """Everything measured for one model."""

    model: EvalModel
    parameters: int
    scores: dict[str, Score] = field(default_factory=dict)

    def mean(self) -> float | None:
        """Mean headline score over the tasks it has."""
        values = [s.value for s in self.scores.values()]
        return sum(values) / len(values) if values else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            **self.model.as_dict(),
            "parameters": self.parameters,
            "mean": self.mean(),
            "scores": {
                task: {
                    "metric": s.metric,
                    "value": s.value,
                    "stderr": s.stderr,
                    "n": s.n,
                    "interval": s.interval(),
                    "items": list(s.items),
                }
                for task, s in self.scores.items()
            },
        }


class TaskSet:
    """Resolved task names and the lm-eval task manager that knows them."""

    def __init__(self, requested: list[str], work_dir: Path | None = None) -> None:
        """Check names (offline-only sets skip indexing lm-eval's 14k built-in tasks).

        Raises:
            HerdsmanError: A name lm-eval does not know (with close matches).
        """
        from lm_eval.tasks import TaskManager

        self._tmp = None
        if work_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="herdsman-tasks-")
            work_dir = Path(self._tmp.name)
        include = write_task_dir(work_dir)
        self.names = expand_tasks(requested)
        offline = {task.name for task in OFFLINE_TASKS}
        self.manager = TaskManager(
            include_path=str(include), include_defaults=not set(self.names) <= offline
        )
        self.check_names(self.names)
        self.unavailable: dict[str, str] = {}

    def check_names(self, names: list[str]) -> None:
        """Raise for the first name lm-eval does not know, listing close matches."""
        known = set(self.manager.all_tasks) | set(GROUPS)
        for name in names:
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=5, cutoff=0.6)
                hint = f" (close matches: {', '.join(close)})" if close else ""
                raise HerdsmanError(f"unknown benchmark task {name!r}{hint}")

    def check_data(self) -> list[str]:
        """Load each task's data once; tasks that fail go to :attr:`unavailable`.

        Returns:
            The tasks whose data loaded.
        """
        ready = []
        for name in self.names:
            try:
                self.manager.load([name])
            except Exception as exc:  # datasets raises many types for "not reachable"
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                self.unavailable[name] = f"data not reachable: {first[:200]}"
                continue
            ready.append(name)
        return ready


def _wrapped_lm_class() -> type:
    from lm_eval.models.huggingface import HFLM

    class WrappedHFLM(HFLM):
        """HFLM whose "chat template" is a herdsman prompt wrapper."""

        def __init__(self, *args: Any, wrapper: str = "none", **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.herdsman_wrapper = wrapper

        def apply_chat_template(
            self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True
        ) -> str:
            text = "\n\n".join(m["content"] for m in chat_history if m.get("content"))
            return wrap(text, self.herdsman_wrapper, self.tokenizer)

        def chat_template(self, chat_template: bool | str = False) -> str:
            return f"herdsman:{self.herdsman_wrapper}"

        def loglikelihood(self, requests: Any, disable_tqdm: bool = False) -> Any:
            return super().loglikelihood(requests, disable_tqdm=True)

    return WrappedHFLM


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _parse_results(results: dict[str, Any], tasks: list[str]) -> dict[str, Score]:
    scores: dict[str, Score] = {}
    for task in tasks:
        raw = results.get("results", {}).get(task)
        if not raw:
            continue
        metrics = {
            key.split(",")[0]: float(value)
            for key, value in raw.items()
            if "," in key and "_stderr" not in key and isinstance(value, int | float)
        }
        picked = headline_metric(task, metrics)
        if picked is None:
            continue
        metric, value = picked
        stderr = raw.get(f"{metric}_stderr,none")
        try:
            err = float(stderr) if stderr is not None else None
        except (TypeError, ValueError):
            err = None
        scores[task] = Score(
            metric,
            value,
            err if err is not None and math.isfinite(err) else None,
            _item_values(results.get("samples", {}).get(task), metric),
        )
    return scores


def _item_values(samples: Any, metric: str) -> tuple[float, ...]:
    """The metric of every scored document, in document order (empty for a group)."""
    if not isinstance(samples, list):
        return ()
    found: list[tuple[int, float]] = []
    for sample in samples:
        value = sample.get(metric) if isinstance(sample, dict) else None
        if isinstance(value, int | float | bool):
            found.append((int(sample.get("doc_id", len(found))), float(value)))
    return tuple(v for _, v in sorted(found))


def evaluate_model(
    model: EvalModel,
    task_set: TaskSet,
    tasks: list[str],
    limit: int | None = None,
    batch_size: int = 8,
) -> ModelScores:
    """Run lm-eval on one model.

    Args:
        model: The model and its wrapper.
        task_set: Checked task names and their manager.
        tasks: The tasks to run (those whose data is reachable).
        limit: At most this many items per task (``None``: all).
        batch_size: lm-eval batch size.

    Raises:
        HerdsmanError: The model cannot be loaded.
    """
    import lm_eval.evaluator
    from lm_eval import simple_evaluate

    quiet_progress_bars()
    # lm-eval records `git describe` of the working folder, which says nothing about
    # the model and prints "fatal: not a git repository" outside a checkout.
    lm_eval.evaluator.get_git_commit_hash = lambda: None
    lm_class = _wrapped_lm_class()
    try:
        lm = lm_class(
            pretrained=str(model.path),
            backend="seq2seq" if model.architecture == "seq2seq" else "causal",
            device=_device(),
            batch_size=batch_size,
            wrapper=model.wrapper,
        )
    except (OSError, ValueError) as exc:
        raise HerdsmanError(f"{model.path}: cannot load the model ({exc})") from None
    parameters = sum(p.numel() for p in lm.model.parameters())
    if not tasks:
        return ModelScores(model, parameters)
    wrapped = model.architecture == "causal" and model.wrapper != "none"
    results = simple_evaluate(
        model=lm,
        tasks=tasks,
        limit=limit,
        task_manager=task_set.manager,
        apply_chat_template=wrapped,
        log_samples=True,  # per-item values, for paired comparisons
        bootstrap_iters=1000,
        verbosity="ERROR",
    )
    return ModelScores(model, parameters, _parse_results(results or {}, tasks))


def run_benchmarks(
    models: list[EvalModel],
    tasks: list[str],
    limit: int | None = None,
    batch_size: int = 8,
    on_model: Callable[[EvalModel], None] | None = None,
) -> dict[str, Any]:
    """Evaluate every model on every reachable task.

    Returns:
        ``{"tasks", "unavailable", "limit", "models": [ModelScores.as_dict()...]}``.

    Raises:
        HerdsmanError: Unknown task names (before anything is loaded), or a
            model that cannot be loaded.
    """
    task_set = TaskSet(tasks)
    ready = task_set.check_data()
    rows = []
    for model in models:
        if on_model:
            on_model(model)
        rows.append(evaluate_model(model, task_set, ready, limit, batch_size).as_dict())
    return {
        "tasks": ready,
        "unavailable": task_set.unavailable,
        "limit": limit,
        "models": rows,
        "comparisons": benchmark_comparisons(rows),
    }


def benchmark_comparisons(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each student against its base, task by task, paired on the same items."""
    by_name = {r["name"]: r for r in rows}
    out = []
    for base in rows:
        student = by_name.get(base.get("base_of") or "")
        if base.get("role") != "base" or student is None:
            continue
        for task, score in student["scores"].items():
            other = base["scores"].get(task)
            if not other or not score.get("items") or len(score["items"]) != len(other["items"]):
                continue
            diff = paired_difference(score["items"], other["items"])
            if diff is not None:
                out.append(
                    {
                        "student": student["name"],
                        "base": base["name"],
                        "task": task,
                        "metric": score["metric"],
                        "difference": diff.as_dict(),
                        "verdict": verdict(diff, f"{score['metric']} gain"),
                    }
                )
    return out
