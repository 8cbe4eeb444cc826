"""Stage ``report``: one self-contained HTML page of the run (``RUN_DIR/report.html``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from herdsman.console import console
from herdsman.evaluate.evaluator import (
    BENCHMARKS,
    JUDGE,
    PROBES,
)
from herdsman.pipeline.context import (
    ABLATION,
    DATASET,
    REPORT,
    SELECTED,
    Context,
    Stage,
    eval_path,
    student_dir,
)


def _report_inputs(ctx: Context) -> dict[str, Path]:
    candidates = {
        "stats": ctx.path(DATASET) / "stats.json",
        "train": ctx.path(DATASET) / "train.jsonl",
        "held_out": ctx.path(DATASET) / "held_out.jsonl",
        "imitation": eval_path(ctx, "imitation.json"),
        "analysis": ctx.path("analysis") / "analysis.json",
        "benchmarks": eval_path(ctx, BENCHMARKS),
        "probes": eval_path(ctx, PROBES),
        "judge": eval_path(ctx, JUDGE),
        "ratings": eval_path(ctx, "ratings.sqlite"),
        "selection": ctx.path(SELECTED) / "selection.json",
        "ablation": ctx.path(ABLATION) / "ablation.json",
    }
    candidates |= {
        f"student:{s.name}": student_dir(ctx, s.name) / "herdsman-train.json"
        for s in ctx.config.students
    }
    return {name: path for name, path in candidates.items() if path.exists()}


def _run_report(ctx: Context) -> dict[str, Any]:
    from herdsman.report.page import write_report

    out = ctx.path(REPORT)
    data = write_report(ctx.run_dir, out)
    console.print(f"  report: {out}")
    for part, why in data.missing.items():
        console.print(f"  [yellow]not in the report[/]: {part}: {why}")
    return {"report": str(out), "missing": sorted(data.missing)}


STAGE = Stage(
    "report",
    "one self-contained HTML report of the run",
    outputs=lambda ctx: [ctx.path(REPORT)],
    inputs=_report_inputs,
    settings=lambda ctx: {"version": 1},
    run=_run_report,
)
