"""Stage ``quality``: the answer-quality gate; only answers that pass every rule reach the dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from herdsman.config import QualityConfig
from herdsman.console import console
from herdsman.errors import HerdsmanError
from herdsman.io.atomic import write_text_atomic
from herdsman.pipeline.context import ANSWERS, QUALITY, RESPONSES, Context, Stage


def gate_answers(
    responses: Path,
    out: Path,
    removed: Path,
    cfg: QualityConfig,
    report: Path | None = None,
    prefix: str = "",
) -> dict[str, Any]:
    """The quality operation (``herdsman quality`` and the stage): gate, report, print.

    Returns:
        The counts (answers, kept, removed per rule), also written to ``report`` when given.
    """
    from herdsman.dataset.quality import gate, settings_from

    if not responses.is_file():
        raise HerdsmanError(f"{responses}: no such file")
    result = gate(responses, out, removed, settings_from(cfg))
    summary = result.as_dict()
    if report is not None:
        write_text_atomic(report, json.dumps(summary, indent=1))
    gone = ", ".join(f"{rule}: {n}" for rule, n in result.removed.most_common()) or "none"
    console.print(
        f"{prefix}kept {result.kept} of {result.answers} answers -> {out} (removed: {gone})"
    )
    if result.removed and not prefix:
        console.print(f"removed answers and their rule: {removed}")
    return summary


def _run_quality(ctx: Context) -> dict[str, Any]:
    folder = ctx.path(QUALITY)
    return gate_answers(
        ctx.path(RESPONSES),
        ctx.path(ANSWERS),
        folder / "removed.jsonl",
        ctx.config.quality,
        folder / "report.json",
        prefix="  quality: ",
    )


STAGE = Stage(
    "quality",
    "drop degenerate, truncated, echoed, refused and wrong-language answers",
    outputs=lambda ctx: [ctx.path(ANSWERS), ctx.path(QUALITY) / "report.json"],
    inputs=lambda ctx: {"responses": ctx.path(RESPONSES)},
    settings=lambda ctx: ctx.config.quality.model_dump(mode="json"),
    run=_run_quality,
    enabled=lambda ctx: ctx.config.quality.enabled,
)
