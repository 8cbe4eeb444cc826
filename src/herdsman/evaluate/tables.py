"""Terminal tables of evaluation results (rich): every score with its n and 95% interval."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def _ci(low: float, high: float) -> str:
    return f"[{low:.2f}, {high:.2f}]"


def benchmark_table(result: dict[str, Any]) -> Table:
    """One row per model, one column per task (score, 95% interval, n), plus the mean."""
    table = Table(title="benchmarks (zero-shot, lm-eval; 95% intervals from its standard errors)")
    for column in ("model", "role", "parameters"):
        table.add_column(column)
    for task in result["tasks"]:
        n = next((m["scores"][task].get("n") for m in result["models"] if task in m["scores"]), 0)
        table.add_column(f"{task.removeprefix('herdsman_')} (n={n})", justify="right")
    table.add_column("mean", justify="right")
    for model in result["models"]:
        cells = [model["name"], model["role"], f"{model['parameters'] / 1e6:.0f}M"]
        for task in result["tasks"]:
            score = model["scores"].get(task)
            if not score:
                cells.append("")
                continue
            interval = score.get("interval")
            cells.append(
                f"{score['value']:.3f} {_ci(*interval)}" if interval else f"{score['value']:.3f}"
            )
        cells.append(f"{model['mean']:.3f}" if model["mean"] is not None else "")
        table.add_row(*cells)
    return table


def comparisons_table(comparisons: list[dict[str, Any]], title: str, measure: str) -> Table:
    """Student minus base on the same items: the paired difference, its interval, in words."""
    table = Table(title=title)
    for column in ("student", "base", "what", "difference [95% interval]", "n", "verdict"):
        table.add_column(column, justify="right" if column == "n" else "left")
    for c in comparisons:
        diff = c.get("difference") or c.get(measure) or c.get("expected_points") or {}
        table.add_row(
            c["student"],
            c["base"],
            c.get("task", measure).removeprefix("herdsman_"),
            f"{diff['mean']:+.3f} {_ci(diff['low'], diff['high'])}",
            str(diff["n"]),
            c["verdict"].split(" (")[0],
        )
    return table


def imitation_table(result: dict[str, Any]) -> Table:
    """Imitation of the teacher per model: ROUGE-L and embedding similarity with intervals."""
    table = Table(title=f"imitation of the teacher (n={result['items']} held-out instructions)")
    for column in ("model", "ROUGE-L [95% interval]", "embedding similarity [95% interval]"):
        table.add_column(column)
    for s in result["scores"]:
        table.add_row(
            s["model"],
            f"{s['rouge_l']:.3f} {_ci(*s['rouge_l_ci'])}",
            f"{s['embedding_similarity']:.3f} {_ci(*s['embedding_ci'])}",
        )
    return table


def grades_table(result: dict[str, Any]) -> Table:
    """A-D counts per model from a judge result, with the mean expected grade and its interval."""
    table = Table(title="judge: A-D rubric (expected points: A=4 ... D=1)")
    columns = ("A", "B", "C", "D", "unparsed", "failed")
    table.add_column("model")
    for column in columns:
        table.add_column(column, justify="right")
    table.add_column("expected points [95% interval], n", justify="right")
    expected = result.get("expected", {})
    for model, counts in result["grades"].items():
        e = expected.get(model)
        mean = f"{e['mean']:.2f} {_ci(e['low'], e['high'])}, n={e['n']}" if e else ""
        table.add_row(model, *(str(counts.get(c, 0)) for c in columns), mean)
    return table
