"""Stage ``select``: score the dataset's training pairs and keep a good, diverse subset for the herd."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from herdsman.console import console, phase_progress
from herdsman.errors import HerdsmanError
from herdsman.pipeline.context import DATASET, SELECTED, Context, Stage


def scorer_model(ctx: Context) -> str | None:
    """The IFD scorer: ``select.scorer``, else the base of the first pretrained student.

    Raises:
        HerdsmanError: IFD is scored but no student has a pretrained base to score with.
    """
    from herdsman.train.bases import SCRATCH_T5

    cfg = ctx.config.select
    if "ifd" not in cfg.scores:
        return None
    name = cfg.scorer
    if name is None:
        name = next(
            (s.base for s in ctx.config.students if not s.from_scratch and s.base != SCRATCH_T5),
            None,
        )
    if name is None:
        raise HerdsmanError(
            "select.scorer: IFD needs a pretrained scorer model and no student has a pretrained "
            "base; set select.scorer (a model folder or embedded alias) or drop 'ifd' from "
            "select.scores"
        )
    if "/" in name or name.startswith("."):
        resolved = ctx.loaded.resolve(name)
        if resolved.exists():
            return str(resolved)
    return name


def _select_inputs(ctx: Context) -> dict[str, Path]:
    return {s: ctx.path(DATASET) / f"{s}.jsonl" for s in ("train", "held_out")}


def _select_settings(ctx: Context) -> dict[str, Any]:
    cfg = ctx.config.select
    settings: dict[str, Any] = cfg.model_dump(mode="json", exclude={"ablation"})
    settings["scorer"] = scorer_model(ctx)
    if "quality" in cfg.scores:
        settings["teacher"] = ctx.teacher_identity()
    return settings


def _run_select(ctx: Context) -> dict[str, Any]:
    from herdsman.selection.selector import Judge, select_dataset

    cfg = ctx.config.select
    judge = None
    if "quality" in cfg.scores:  # built after IFD: the scorer and a GPU teacher never share memory

        def judge() -> Judge:
            return Judge(ctx.teacher(), ctx.store(), cfg.judge_retries)

    if "ifd" in cfg.scores:
        ctx.release_teacher()
    with phase_progress("select") as progress:
        report = select_dataset(
            ctx.path(DATASET),
            ctx.path(SELECTED),
            cfg,
            scorer=scorer_model(ctx),
            judge=judge,
            log=console.print,
            progress=progress,
        )
    dropped = ", ".join(f"{r}: {n}" for r, n in report["dropped"].items()) or "none"
    console.print(
        f"  select: kept {report['kept']} of {report['candidates']} pairs (dropped: {dropped})"
    )
    return {k: report[k] for k in ("candidates", "target", "kept", "dropped")}


STAGE = Stage(
    "select",
    "score the training pairs (judge quality, IFD, length) and keep a good, diverse subset",
    outputs=lambda ctx: [ctx.path(SELECTED) / n for n in ("train.jsonl", "selection.json")],
    inputs=_select_inputs,
    settings=_select_settings,
    run=_run_select,
    enabled=lambda ctx: ctx.config.select.enabled,
    calls_teacher=True,
    check=scorer_model,
)
