"""``herdsman select``: score a dataset's training pairs and keep a good, diverse subset."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from herdsman.cli.app import StoreOpt, app, store_for, user_errors
from herdsman.cli.dataset import DATASET_READS
from herdsman.cli.section_options import SectionSpec, with_section
from herdsman.cli.teacher_options import TeacherGroup
from herdsman.config import SelectConfig, StoreConfig
from herdsman.console import console
from herdsman.io.guard import Input, Output, check_paths

if TYPE_CHECKING:
    from herdsman.teachers.options import TeacherOptions

#: What ``select`` writes into its folder (``selection.selector``'s files, its IFD cache).
SELECTION_FILES = (
    "train.jsonl",
    "held_out.jsonl",
    "scores.jsonl",
    "selection.json",
    "README.md",
    ".cache",
    ".herdsman",
)

#: The command has no students to take the IFD scorer from: the embedded model scores.
DEFAULT_SCORER = "smollm2-135m-instruct"


@app.command("select")
@with_section(
    SectionSpec(
        SelectConfig,
        "settings",
        exclude=frozenset({"ablation"}),
        fixed={"enabled": True},
        defaults={"scorer": DEFAULT_SCORER},
    ),
    SectionSpec(StoreConfig, "store_settings"),
    TeacherGroup(),
)
def select_command(
    dataset: Annotated[
        Path, typer.Argument(help="LaMini-format dataset: herdsman dataset folder, JSONL, Parquet.")
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder.")],
    store: StoreOpt = None,
    *,
    settings: SelectConfig,
    store_settings: StoreConfig,
    teacher_options: TeacherOptions,
) -> None:
    """Score every training pair and keep a subset: score floors, then diversity.

    Scores: the teacher's A-D judgement of the pair (expected grade points from
    the grade letters' probabilities), IFD (a scorer model's loss on the
    response with the instruction over its loss without), response length.
    Only the train split is selected from; the held-out split is copied as is.
    Judge calls are cached in the run store. Every setting of a config's
    select: section is an option here under the same name.

    Examples:

      herdsman select run/dataset -o run/selected --fraction 0.5

      herdsman select data.jsonl -o picked --size 9000 --scores ifd,length --scorer ./my-model
    """
    from herdsman.pipeline.stages.select import select_pairs
    from herdsman.selection.selector import Judge
    from herdsman.teachers.factory import build_teacher

    with user_errors():
        check_paths(
            [Input(dataset, "DATASET", reads=DATASET_READS)],
            [
                Output(out, kind="folder", writes=SELECTION_FILES),
                *([Output(store, "--store")] if store else []),
            ],
        )
    with user_errors(), ExitStack() as held:

        def judge() -> Judge:
            """Built only once the data and the target have passed their checks and IFD is done."""
            teacher = build_teacher(teacher_options.live())  # never the Batch API
            held.callback(teacher.close)
            path = out / "selection.json"
            run_store = held.enter_context(store_for(store, path, store_settings.durability))
            return Judge(teacher, run_store, settings.judge_retries)

        select_pairs(dataset, out, settings, judge)
        console.print(f"wrote {out}/train.jsonl and {out}/README.md")
