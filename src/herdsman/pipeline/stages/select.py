"""Stage ``select``: score the dataset's training pairs and keep a good, diverse subset for the herd."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from herdsman.config import SelectConfig
from herdsman.console import console, phase_progress
from herdsman.errors import HerdsmanError
from herdsman.pipeline.context import DATASET, SELECTED, Context, Stage
from herdsman.pipeline.run_files import LOGPROBS

if TYPE_CHECKING:
    from herdsman.selection.selector import Judge


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


def select_pairs(
    dataset: Path,
    out: Path,
    cfg: SelectConfig,
    judge: Callable[[], Judge] | None,
    prefix: str = "",
) -> dict[str, Any]:
    """The select operation (``herdsman select`` and the stage): score, choose, write, print.

    Args:
        dataset: The dataset to select from (its train split).
        out: The selection's folder.
        cfg: The ``select`` settings; ``cfg.scorer`` is the IFD scorer (already resolved).
        judge: Builds the quality judge, called only once IFD is done (a GPU teacher and the
            scorer never share memory); ``None`` when quality is not scored.
        prefix: Put before the summary line.
    """
    from herdsman.selection.selector import select_dataset

    with phase_progress("select") as progress:
        report = select_dataset(
            dataset,
            out,
            cfg,
            scorer=cfg.scorer if "ifd" in cfg.scores else None,
            judge=judge if "quality" in cfg.scores else None,
            log=console.print,
            progress=progress,
        )
    dropped = ", ".join(f"{r}: {n}" for r, n in report["dropped"].items()) or "none"
    console.print(
        f"{prefix}kept {report['kept']} of {report['candidates']} pairs (dropped: {dropped})"
    )
    return report


def _run_select(ctx: Context) -> dict[str, Any]:
    from herdsman.selection.selector import Judge

    cfg = ctx.config.select
    judge = None
    if "quality" in cfg.scores:  # built after IFD: the scorer and a GPU teacher never share memory

        def judge() -> Judge:
            return Judge(ctx.teacher(), ctx.store(), cfg.judge_retries)

    if "ifd" in cfg.scores:
        ctx.release_teacher()
    report = select_pairs(
        ctx.path(DATASET),
        ctx.path(SELECTED),
        cfg.model_copy(update={"scorer": scorer_model(ctx)}),
        judge,
        prefix="  select: ",
    )
    stored = ctx.path(DATASET) / LOGPROBS
    if stored.is_dir():  # the kept pairs' teacher log-probabilities go with them (kd students)
        target = ctx.path(SELECTED) / LOGPROBS
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(stored, target)
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
