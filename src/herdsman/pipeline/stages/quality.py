"""Stage ``quality``: the answer-quality gate; only answers that pass every rule reach the dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from herdsman.console import console
from herdsman.io.atomic import write_text_atomic
from herdsman.pipeline.context import ANSWERS, QUALITY, RESPONSES, Context, Stage


def _run_quality(ctx: Context) -> dict[str, Any]:
    from herdsman.dataset.quality import gate, settings_from

    folder = ctx.path(QUALITY)
    report = gate(
        ctx.path(RESPONSES),
        ctx.path(ANSWERS),
        folder / "removed.jsonl",
        settings_from(ctx.config.quality),
    )
    summary = report.as_dict()
    write_text_atomic(folder / "report.json", json.dumps(summary, indent=1))
    removed = ", ".join(f"{rule}: {n}" for rule, n in report.removed.most_common()) or "none"
    console.print(f"  quality: kept {report.kept} of {report.answers} answers (removed: {removed})")
    return summary


def dataset_input(ctx: Context) -> Path:
    """What the dataset stage reads: the gated answers, or every response with the gate off."""
    return ctx.path(ANSWERS) if ctx.config.quality.enabled else ctx.path(RESPONSES)


STAGE = Stage(
    "quality",
    "drop degenerate, truncated, echoed, refused and wrong-language answers",
    outputs=lambda ctx: [ctx.path(ANSWERS), ctx.path(QUALITY) / "report.json"],
    inputs=lambda ctx: {"responses": ctx.path(RESPONSES)},
    settings=lambda ctx: ctx.config.quality.model_dump(mode="json"),
    run=_run_quality,
    enabled=lambda ctx: ctx.config.quality.enabled,
)
