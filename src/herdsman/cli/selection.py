"""``herdsman select``: score a dataset's training pairs and keep a good, diverse subset."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from herdsman.cli.app import DurabilityOpt, StoreOpt, app, store_for, user_errors
from herdsman.cli.teacher_options import teacher_command
from herdsman.console import console, phase_progress
from herdsman.errors import HerdsmanError

if TYPE_CHECKING:
    from herdsman.teachers.options import TeacherOptions


def _quotas(values: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for value in values:
        source, sep, share = value.rpartition("=")
        try:
            out[source] = float(share)
        except ValueError:
            source = ""
        if not sep or not source:
            raise HerdsmanError(f"--quota {value}: expected SOURCE=SHARE, e.g. alpaca=0.3")
    return out


@app.command("select")
@teacher_command()
def select_command(
    dataset: Annotated[
        Path, typer.Argument(help="LaMini-format dataset: herdsman dataset folder, JSONL, Parquet.")
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder.")],
    size: Annotated[int | None, typer.Option("--size", min=1, help="Pairs to keep.")] = None,
    fraction: Annotated[
        float | None, typer.Option("--fraction", help="Share of the training pairs to keep.")
    ] = None,
    scores: Annotated[
        str, typer.Option("--scores", help="Comma-separated: quality (judge), ifd, length.")
    ] = "quality,ifd,length",
    scorer: Annotated[
        str | None,
        typer.Option("--scorer", help="IFD scorer: model folder or embedded alias."),
    ] = "smollm2-135m-instruct",
    min_quality: Annotated[
        float | None, typer.Option("--min-quality", help="Floor on expected grade points (1-4).")
    ] = None,
    max_ifd: Annotated[
        float | None, typer.Option("--max-ifd", help="Ceiling on IFD (0 turns it off).")
    ] = 1.0,
    min_words: Annotated[
        int | None, typer.Option("--min-words", help="Floor on response words.")
    ] = None,
    diversity: Annotated[
        str, typer.Option("--diversity", help="k-center (default) or none (best ranked).")
    ] = "k-center",
    quota: Annotated[
        list[str] | None,
        typer.Option("--quota", help="SOURCE=SHARE of the target for one instruction_source."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 42,
    store: StoreOpt = None,
    durability: DurabilityOpt = "normal",
    *,
    teacher_options: TeacherOptions,
) -> None:
    """Score every training pair and keep a subset: score floors, then diversity.

    Scores: the teacher's A-D judgement of the pair (expected grade points from
    the grade letters' probabilities), IFD (a scorer model's loss on the
    response with the instruction over its loss without), response length.
    Only the train split is selected from; the held-out split is copied as is.
    Judge calls are cached in the run store.

    Examples:

      herdsman select run/dataset -o run/selected --fraction 0.5

      herdsman select data.jsonl -o picked --size 9000 --scores ifd,length --scorer ./my-model
    """
    from pydantic import ValidationError

    from herdsman.config import SelectConfig
    from herdsman.selection.selector import Judge, select_dataset
    from herdsman.teachers.factory import build_teacher

    with user_errors():
        names = [s.strip() for s in scores.split(",") if s.strip()]
        try:
            cfg = SelectConfig(
                enabled=True,
                scores=names,
                size=size,
                fraction=fraction,
                min_quality=min_quality,
                max_ifd=max_ifd or None,
                min_words=min_words,
                diversity=diversity,
                quotas=_quotas(quota or []),
                scorer=scorer,
                seed=seed,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "options"
            raise HerdsmanError(f"select: {where}: {first['msg']}") from None
        with ExitStack() as held:

            def judge() -> Judge:
                """Built only once the data and the target have passed their checks and IFD is done."""
                teacher = build_teacher(teacher_options)
                held.callback(teacher.close)
                run_store = held.enter_context(store_for(store, out / "selection.json", durability))
                return Judge(teacher, run_store)

            with phase_progress("select") as progress:
                report = select_dataset(
                    dataset,
                    out,
                    cfg,
                    scorer=scorer if "ifd" in cfg.scores else None,
                    judge=judge if "quality" in cfg.scores else None,
                    log=console.print,
                    progress=progress,
                )
        dropped = ", ".join(f"{r}: {n}" for r, n in report["dropped"].items()) or "none"
        console.print(
            f"kept {report['kept']} of {report['candidates']} pairs (dropped: {dropped}); "
            f"wrote {out}/train.jsonl and {out}/README.md"
        )
