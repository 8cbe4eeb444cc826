"""What a student's training run will do: data, batch arithmetic, checkpoints, trainer arguments."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from herdsman.config import StudentConfig
from herdsman.errors import HerdsmanError
from herdsman.train.bases import StudentBase
from herdsman.train.data import TrainingData
from herdsman.train.precision import detect_hardware, resolve_attention, resolve_precision

CHECKPOINTS = ".checkpoints"
#: The student folder's subfolder for trackers that write files (TensorBoard's event files).
LOGS = "logs"
#: Where transformers' TensorBoard callback writes (read when the trainer is built).
TENSORBOARD_DIR_ENV = "TENSORBOARD_LOGGING_DIR"


def world_size() -> int:
    """Processes in this run (``accelerate launch``/``torchrun`` set ``WORLD_SIZE``)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """True on the process that writes shared files."""
    return int(os.environ.get("RANK", "0")) == 0


def check_devices(world: int, gpus: int) -> None:
    """Refuse one training process that sees several GPUs.

    In a single process (no ``WORLD_SIZE``, or 1) transformers' ``Trainer``
    wraps the student in ``torch.nn.DataParallel`` over every visible GPU
    (its ``n_gpu``) and takes ``per_device_batch_size`` times that many
    examples per micro-batch, while the gradient accumulation below counts
    one device per process: each optimiser step would see ``gpus`` times
    ``batch_size`` examples. Dividing the accumulation would not fix it:
    packed batches (the decoder-only default) are one flattened row, which
    DataParallel cannot split, so the whole micro-batch would run on the first
    GPU. One device per process is the only honest setting; the process
    cannot narrow its own view reliably (``CUDA_VISIBLE_DEVICES`` works only
    before CUDA starts, and a teacher in the same process may have started
    it), so the user does, or starts one process per GPU.

    Args:
        world: Processes in the run (:func:`world_size`).
        gpus: CUDA devices this process sees (``torch.cuda.device_count()``).

    Raises:
        HerdsmanError: One process and several GPUs, naming both ways out.
    """
    if world <= 1 and gpus > 1:
        raise HerdsmanError(
            f"{gpus} GPUs are visible to one training process: transformers would spread each "
            "batch over them with DataParallel, which packed batches cannot use and which breaks "
            "the batch_size arithmetic; show it one GPU (CUDA_VISIBLE_DEVICES=0 herdsman ...) or "
            f"start one process per GPU (torchrun --nproc_per_node {gpus} -m herdsman train "
            "--base ... --data ... -o ...)"
        )


@dataclass
class TrainPlan:
    """A student's run, decided before the trainer is built."""

    base: StudentBase
    wrapper: str
    data: TrainingData
    out_dir: Path
    accumulation: int
    steps_per_epoch: int
    total_steps: int
    precision: str = "fp32"
    attention: str = "sdpa"

    @property
    def checkpoints(self) -> Path:
        """Where resumable checkpoints go (removed once the student is saved)."""
        return self.out_dir / CHECKPOINTS

    @property
    def logs(self) -> Path:
        """Where TensorBoard's event files go (kept with the student, unlike checkpoints)."""
        return self.out_dir / LOGS

    @contextlib.contextmanager
    def tracking(self) -> Iterator[None]:
        """Build the trainer inside this: its TensorBoard callback then writes to :attr:`logs`.

        transformers 5 takes TensorBoard's folder from ``TENSORBOARD_LOGGING_DIR``
        only (its default lies under the checkpoints, which are removed); the
        variable is set while the callback is created and restored after.
        """
        before = os.environ.get(TENSORBOARD_DIR_ENV)
        os.environ[TENSORBOARD_DIR_ENV] = str(self.logs)
        try:
            yield
        finally:
            if before is None:
                os.environ.pop(TENSORBOARD_DIR_ENV, None)
            else:
                os.environ[TENSORBOARD_DIR_ENV] = before

    @classmethod
    def make(
        cls, student: StudentConfig, base: StudentBase, wrapper: str, data: TrainingData, out: Path
    ) -> TrainPlan:
        """Gradient accumulation keeps ``student.batch_size`` examples per optimiser step
        whatever the number of processes (the paper's effective batch is 512)."""
        import torch

        check_devices(world_size(), torch.cuda.device_count() if torch.cuda.is_available() else 0)
        per_step = student.per_device_batch_size * world_size()
        accumulation = max(1, math.ceil(student.batch_size / per_step))
        steps_per_epoch = max(1, math.ceil(len(data.train) / (per_step * accumulation)))
        total = student.max_steps or math.ceil(steps_per_epoch * student.epochs)
        hardware = detect_hardware()
        precision = resolve_precision(student.precision, hardware)
        attention = (
            resolve_attention(student.attention, precision, hardware)
            if base.architecture == "causal"
            else "eager"  # encoder-decoder students: the model's own attention
        )
        return cls(
            base, wrapper, data, out, accumulation, steps_per_epoch, total, precision, attention
        )

    def gradient_checkpointing(self, student: StudentConfig) -> bool:
        """The student's setting, else on for decoder-only students (TRL's default) only."""
        if student.gradient_checkpointing is not None:
            return student.gradient_checkpointing
        return self.base.architecture == "causal"

    def trainer_arguments(self, student: StudentConfig) -> dict[str, Any]:
        """``TrainingArguments`` shared by both paths (paper defaults: linear, AdamW, seed 42)."""
        import torch

        save_every = student.save_steps or max(1, self.total_steps // 5)
        return {
            "output_dir": str(self.checkpoints),
            "per_device_train_batch_size": student.per_device_batch_size,
            "per_device_eval_batch_size": student.per_device_batch_size,
            "gradient_accumulation_steps": self.accumulation,
            "learning_rate": student.learning_rate,
            "num_train_epochs": student.epochs,
            "max_steps": student.max_steps or -1,
            "lr_scheduler_type": "linear",
            "warmup_steps": student.warmup_ratio,  # a float below 1 is a share of the steps
            "optim": "adamw_torch",
            "seed": student.seed,
            "data_seed": student.seed,
            "bf16": self.precision == "bf16",
            "fp16": self.precision == "fp16",
            "gradient_checkpointing": self.gradient_checkpointing(student),
            "logging_steps": max(1, self.total_steps // 50),
            "logging_first_step": True,
            "save_strategy": "steps",
            "save_steps": save_every,
            "save_total_limit": 2,
            "eval_strategy": "no",
            "report_to": list(student.report_to),
            "run_name": student.name,
            **self._logging_dir(),
            "disable_tqdm": True,
            "dataloader_num_workers": 0,
            "use_cpu": not torch.cuda.is_available(),
            "train_sampling_strategy": (
                "group_by_length" if student.padding == "group_by_length" else "random"
            ),
            "ddp_find_unused_parameters": False,
        }

    def _logging_dir(self) -> dict[str, str]:
        """``logging_dir`` where ``TrainingArguments`` still has it (transformers 4)."""
        from transformers import TrainingArguments

        has = any(f.name == "logging_dir" for f in fields(TrainingArguments))
        return {"logging_dir": str(self.logs)} if has else {}
