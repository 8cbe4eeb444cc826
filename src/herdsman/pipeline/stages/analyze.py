"""Stage ``analyze``: composition by source, length statistics and the diversity map."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from herdsman.config import AnalyzeConfig
from herdsman.console import console
from herdsman.pipeline.context import (
    ANALYSIS,
    DATASET,
    Context,
    Stage,
)


def _analyze_inputs(ctx: Context) -> dict[str, Path]:
    # The JSONL splits, not the folder: Arrow files differ between identical exports.
    splits = {s: ctx.path(DATASET) / f"{s}.jsonl" for s in ("train", "held_out")}
    if all(p.is_file() for p in splits.values()):
        return dict(splits)
    return {"dataset": ctx.path(DATASET)}


def analyze_dataset(dataset: Path, out: Path, cfg: AnalyzeConfig, indent: str = "") -> Any:
    """The analyze operation (``herdsman analyze`` and the stage): analyse, print the summary.

    Returns:
        The :class:`~herdsman.dataset.analyze.AnalysisResult`.
    """
    from herdsman.dataset.analyze import AnalyzeSettings, analyze, summary_lines

    result = analyze(dataset, out, AnalyzeSettings.from_config(cfg))
    for line in summary_lines(result):
        console.print(f"{indent}{line}")
    return result


def _run_analyze(ctx: Context) -> dict[str, Any]:
    result = analyze_dataset(ctx.path(DATASET), ctx.path(ANALYSIS), ctx.config.analyze, "  ")
    return {"timings_s": result.numbers["timings_s"], "rows": result.numbers["rows"]}


STAGE = Stage(
    "analyze",
    "composition, lengths, diversity map",
    outputs=lambda ctx: [ctx.path(ANALYSIS)],
    inputs=_analyze_inputs,
    settings=lambda ctx: ctx.config.analyze.model_dump(mode="json"),
    run=_run_analyze,
    enabled=lambda ctx: ctx.config.analyze.enabled,
)
