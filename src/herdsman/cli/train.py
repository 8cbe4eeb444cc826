"""The ``train`` command: fine-tune the herd from a config, or one student from flags."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from herdsman.cli.app import (
    app,
    user_errors,
)
from herdsman.console import console
from herdsman.errors import HerdsmanError

if TYPE_CHECKING:
    pass


@app.command()
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
    method: Annotated[str, typer.Option("--method", help="full or lora.")] = "full",
    architecture: Annotated[
        str, typer.Option("--architecture", help="auto, causal or seq2seq.")
    ] = "auto",
    wrapper: Annotated[str, typer.Option("--wrapper", help="auto, alpaca, chat or none.")] = "auto",
    epochs: Annotated[float, typer.Option("--epochs", min=0.01)] = 5.0,
    learning_rate: Annotated[float, typer.Option("--lr", min=0.0)] = 5e-4,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Effective batch.")] = 512,
    per_device: Annotated[int, typer.Option("--per-device-batch-size", min=1)] = 8,
    max_length: Annotated[int, typer.Option("--max-length", min=8)] = 512,
    max_steps: Annotated[int | None, typer.Option("--max-steps", min=1)] = None,
    padding: Annotated[
        str, typer.Option("--padding", help="packing, group_by_length or none.")
    ] = "packing",
    seed: Annotated[int, typer.Option("--seed")] = 42,
    precision: Annotated[
        str,
        typer.Option(
            "--precision",
            help="auto (bf16 where supported, fp16 on older GPUs, fp32 on CPU), bf16, fp16, fp32.",
        ),
    ] = "auto",
    attention: Annotated[
        str, typer.Option("--attention", help="auto, sdpa, flash_attention_2 or eager.")
    ] = "auto",
    gradient_checkpointing: Annotated[
        bool | None,
        typer.Option(
            "--gradient-checkpointing/--no-gradient-checkpointing",
            help="Recompute activations to save memory (default: on for decoder-only).",
        ),
    ] = None,
) -> None:
    """Fine-tune students on a LaMini dataset (defaults: the paper's hyperparameters).

    Decoder-only bases train through TRL's SFTTrainer (loss on the answer only,
    packed without cross-talk); encoder-decoder bases through Seq2SeqTrainer.
    Re-running after an interruption resumes from the last checkpoint. Works
    under `accelerate launch` (DDP, DeepSpeed, FSDP) unchanged.

    Examples:

      herdsman train my-run.yaml

      herdsman train --base gemma-3-270m --data run/dataset -o students/gemma --epochs 3 --batch-size 64

      accelerate launch --num_processes 2 -m herdsman train --base /models/llama --data run/dataset -o students/llama --method lora
    """
    with user_errors():
        if config is not None:
            if base or data or out:
                raise HerdsmanError("give either CONFIG or --base/--data/-o, not both")
            from herdsman.config import load_config
            from herdsman.pipeline.runner import run_pipeline

            run_pipeline(load_config(config), ["train"])
            return
        if not (base and data and out):
            raise HerdsmanError("give a CONFIG, or all of --base, --data and -o")
        from pydantic import ValidationError

        from herdsman.config import StudentConfig
        from herdsman.train.herd import herd_table
        from herdsman.train.student import read_outcome, train_student

        try:
            student = StudentConfig(
                name=name or out.name,
                base=base,
                method=method,
                architecture=architecture,
                wrapper=wrapper,
                epochs=epochs,
                learning_rate=learning_rate,
                batch_size=batch_size,
                per_device_batch_size=per_device,
                max_length=max_length,
                max_steps=max_steps,
                padding=padding,
                seed=seed,
                precision=precision,
                attention=attention,
                gradient_checkpointing=gradient_checkpointing,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            raise HerdsmanError(f"--{first['loc'][0]}: {first['msg']}") from None
        if not data.exists():
            raise HerdsmanError(f"{data}: no such file or folder")
        outcome = train_student(student, data, out)
        from herdsman.train.plan import is_main_process

        if is_main_process():
            console.print(herd_table([read_outcome(out)]))
            console.print(f"student saved to {out} ({outcome.steps} steps)")
