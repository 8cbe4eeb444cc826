"""The ``train`` command: fine-tune the herd from a config, or one student from flags."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from herdsman.cli.app import (
    app,
    user_errors,
)
from herdsman.cli.section_options import SectionSpec, with_section
from herdsman.config import StudentConfig
from herdsman.console import console
from herdsman.errors import HerdsmanError

if TYPE_CHECKING:
    from herdsman.config import StudentConfig


@app.command()
@with_section(
    SectionSpec(
        StudentConfig,
        "student",
        exclude=frozenset({"name", "base"}),
        nested=frozenset({"lora"}),
        # Set by the command from --name/-o and --base (own options: optional with CONFIG).
        defaults={"name": "", "base": ""},
    )
)
def train(
    config: Annotated[
        Path | None, typer.Argument(help="Pipeline config: trains every student in it.")
    ] = None,
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            help="Base model: folder, cached hub id, gemma-3-270m, smollm2-135m-instruct, t5-scratch.",
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="herdsman dataset/ folder or LaMini JSONL/Parquet."),
    ] = None,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Student folder.")] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Student name (default: folder name).")
    ] = None,
    *,
    student: StudentConfig,
) -> None:
    """Fine-tune students on a LaMini dataset (defaults: the paper's hyperparameters).

    Decoder-only bases train through TRL's SFTTrainer (loss on the answer only,
    packed without cross-talk); encoder-decoder bases through Seq2SeqTrainer.
    Re-running after an interruption resumes from the last checkpoint. The
    flag form (--base/--data/-o) runs unchanged under `torchrun` or `accelerate
    launch` (DDP, DeepSpeed, FSDP); a CONFIG does not (every process would
    open the run folder).

    Examples:

      herdsman train my-run.yaml

      herdsman train --base gemma-3-270m --data run/dataset -o students/gemma --epochs 3 --batch-size 64

      accelerate launch --num_processes 2 -m herdsman train --base /models/llama --data run/dataset -o students/llama --method lora
    """
    with user_errors():
        if config is not None:
            if base or data or out or student.model_fields_set - {"name", "base"}:
                raise HerdsmanError("give either CONFIG or --base/--data/-o, not both")
            from herdsman.config import load_config
            from herdsman.pipeline.runner import run_pipeline

            run_pipeline(load_config(config), ["train"])
            return
        if not (base and data and out):
            raise HerdsmanError("give a CONFIG, or all of --base, --data and -o")
        from herdsman.cli.dataset import DATASET_READS
        from herdsman.io.guard import Input, Output, check_paths
        from herdsman.train.herd import herd_table
        from herdsman.train.student import read_outcome, train_student

        student = student.model_copy(update={"name": name or out.name, "base": base})
        if not data.exists():
            raise HerdsmanError(f"{data}: no such file or folder")
        base_path = Path(base).expanduser()
        check_paths(
            [
                Input(data, "--data", reads=DATASET_READS),
                *([Input(base_path, "--base")] if base_path.exists() else []),
            ],
            [Output(out, kind="folder")],
        )
        token = None
        if student.push_to_hub:  # refused before training when it could not push
            from herdsman.config import DatasetConfig
            from herdsman.io.hub import push_token

            token = push_token("--push-to-hub", DatasetConfig().hub_token_env)
        outcome = train_student(student, data, out)
        from herdsman.train.plan import is_main_process

        if is_main_process():
            console.print(herd_table([read_outcome(out)]))
            console.print(f"student saved to {out} ({outcome.steps} steps)")
            if student.push_to_hub and token:
                from herdsman.train.push import push_student

                console.print(f"pushed to {push_student(out, student.push_to_hub, token)}")
