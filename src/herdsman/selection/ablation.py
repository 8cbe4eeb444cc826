"""Did the selection help? The same student trained on the selected subset and on a random one.

Both arms share everything but the data: the student config (seed, steps,
hyperparameters), the size of the training set (the random subset has as
many pairs as the selected one, drawn with the selection's seed from the same
train split), and the evaluation (the same held-out items and benchmark
items). The answer is the paired selected-minus-random difference per item,
with its 95% bootstrap interval: at demo scale it is usually inconclusive,
and the verdict says so.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from herdsman.evaluate.intervals import paired_difference, verdict
from herdsman.io.jsonl import iter_json_objects, write_jsonl_atomic


def random_subset(train: Path, size: int, seed: int, out: Path) -> Path:
    """Write ``size`` rows drawn uniformly (with ``seed``) from ``train`` to ``out``, in order.

    Raises:
        ValueError: ``size`` is larger than the number of rows.
    """
    rows = [row for _, row in iter_json_objects(train)]
    if size > len(rows):
        raise ValueError(f"a random subset of {size} from {len(rows)} rows")
    picked = sorted(random.Random(seed).sample(range(len(rows)), size))
    write_jsonl_atomic(out, (rows[n] for n in picked))
    return out


def _difference(left: Any, right: Any, what: str) -> dict[str, Any] | None:
    if not left or not right or len(left) != len(right):
        return None
    diff = paired_difference(left, right)
    if diff is None:
        return None
    return {"difference": diff.as_dict(), "verdict": verdict(diff, what)}


def compare_arms(
    selected: str,
    baseline: str,
    imitation: dict[str, Any] | None,
    benchmarks: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    """Paired first-minus-second differences, one row per measure.

    Args:
        selected: The first arm's model (trained on the selected subset, or with kd).
        baseline: The second arm's model (trained on a random subset, or with sft).
        imitation: ``imitation.json`` of an evaluation of both.
        benchmarks: ``benchmarks.json`` of an evaluation of both.
    """
    rows: list[dict[str, Any]] = []
    if imitation:
        by_model = {s["model"]: s for s in imitation["scores"]}
        a, b = by_model.get(selected), by_model.get(baseline)
        if a and b:
            for measure, key in (
                ("imitation ROUGE-L", "rouge_l_items"),
                ("imitation embedding similarity", "embedding_items"),
            ):
                diff = _difference(a[key], b[key], f"{measure} gain")
                if diff:
                    rows.append({"measure": measure, **diff})
    if benchmarks:
        by_model = {m["name"]: m for m in benchmarks["models"]}
        a, b = by_model.get(selected), by_model.get(baseline)
        if a and b:
            for task, score in a["scores"].items():
                other = b["scores"].get(task) or {}
                diff = _difference(
                    score.get("items"), other.get("items"), f"{score['metric']} gain"
                )
                if diff:
                    rows.append({"measure": f"{task} ({score['metric']})", **diff})
    return rows
