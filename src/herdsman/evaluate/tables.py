"""Terminal tables of evaluation results (rich)."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def benchmark_table(result: dict[str, Any]) -> Table:
    """One row per model, one column per task, plus the mean."""
    table = Table(title="benchmarks (zero-shot, lm-eval)")
    for column in ("model", "role", "parameters"):
        table.add_column(column)
    for task in result["tasks"]:
        table.add_column(task.removeprefix("herdsman_"), justify="right")
    table.add_column("mean", justify="right")
    for model in result["models"]:
        cells = [model["name"], model["role"], f"{model['parameters'] / 1e6:.0f}M"]
        for task in result["tasks"]:
            score = model["scores"].get(task)
            cells.append(f"{score['value']:.3f}" if score else "")
        cells.append(f"{model['mean']:.3f}" if model["mean"] is not None else "")
        table.add_row(*cells)
    return table


def grades_table(result: dict[str, Any]) -> Table:
    """A-D counts per model from a judge result."""
    table = Table(title="judge: A-D rubric")
    columns = ("A", "B", "C", "D", "unparsed", "failed")
    table.add_column("model")
    for column in columns:
        table.add_column(column, justify="right")
    for model, counts in result["grades"].items():
        table.add_row(model, *(str(counts.get(c, 0)) for c in columns))
    return table
