"""Precision, attention kernel and gradient checkpointing: what each kind of machine gets."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from herdsman.config import StudentConfig
from herdsman.errors import HerdsmanError, is_out_of_memory
from herdsman.teachers.local import teacher_dtype
from herdsman.train.bases import StudentBase
from herdsman.train.data import TrainingData
from herdsman.train.plan import TrainPlan
from herdsman.train.precision import Hardware, resolve_attention, resolve_precision

CPU = Hardware(cuda=False, bf16=False, flash_attn=False)
T4 = Hardware(cuda=True, bf16=False, flash_attn=False)  # Turing: no bfloat16
A100 = Hardware(cuda=True, bf16=True, flash_attn=True)
A100_NO_FLASH = Hardware(cuda=True, bf16=True, flash_attn=False)


@pytest.mark.parametrize(
    ("requested", "hardware", "expected"),
    [
        ("auto", CPU, "fp32"),
        ("auto", T4, "fp16"),
        ("auto", A100, "bf16"),
        ("fp32", A100, "fp32"),
        ("bf16", CPU, "bf16"),  # CPU autocast handles bf16
        ("fp16", T4, "fp16"),
    ],
)
def test_precision(requested: str, hardware: Hardware, expected: str) -> None:
    assert resolve_precision(requested, hardware) == expected


def test_unsupported_precisions_are_one_line_messages() -> None:
    with pytest.raises(HerdsmanError, match=r"does not support bfloat16.*use precision: fp16"):
        resolve_precision("bf16", T4)
    with pytest.raises(HerdsmanError, match="fp16 training needs a GPU"):
        resolve_precision("fp16", CPU)


def test_attention() -> None:
    assert resolve_attention("auto", "bf16", A100) == "flash_attention_2"
    assert resolve_attention("auto", "fp32", A100) == "sdpa"  # FA2 runs in half precision only
    assert resolve_attention("auto", "bf16", A100_NO_FLASH) == "sdpa"
    assert resolve_attention("auto", "fp32", CPU) == "sdpa"
    assert resolve_attention("eager", "fp32", CPU) == "eager"
    with pytest.raises(HerdsmanError, match="flash-attn is not installed"):
        resolve_attention("flash_attention_2", "bf16", A100_NO_FLASH)
    with pytest.raises(HerdsmanError, match="needs a GPU and precision bf16 or fp16"):
        resolve_attention("flash_attention_2", "fp32", A100)


def plan(tmp_path: Path, architecture: str, **settings: object) -> tuple[TrainPlan, StudentConfig]:
    student = StudentConfig(name="s", base="b", batch_size=8, per_device_batch_size=4, **settings)
    data = TrainingData([{"prompt": "a", "completion": "b"}] * 16, [])
    base = StudentBase(tmp_path, architecture, "b")  # type: ignore[arg-type]
    return TrainPlan.make(student, base, "none", data, tmp_path / "out"), student


def test_trainer_arguments_on_this_machine(tmp_path: Path) -> None:
    causal, student = plan(tmp_path, "causal")
    args = causal.trainer_arguments(student)
    if not torch.cuda.is_available():
        assert causal.precision == "fp32" and causal.attention == "sdpa"
        assert (args["bf16"], args["fp16"]) == (False, False)
    assert args["gradient_checkpointing"] is True  # decoder-only default
    seq2seq, student = plan(tmp_path, "seq2seq")
    assert seq2seq.trainer_arguments(student)["gradient_checkpointing"] is False
    forced, student = plan(tmp_path, "seq2seq", gradient_checkpointing=True)
    assert forced.trainer_arguments(student)["gradient_checkpointing"] is True
    off, student = plan(tmp_path, "causal", gradient_checkpointing=False)
    assert off.trainer_arguments(student)["gradient_checkpointing"] is False
    if not torch.cuda.is_available():
        with pytest.raises(HerdsmanError, match="fp16 training needs a GPU"):
            plan(tmp_path, "causal", precision="fp16")


def test_local_teacher_dtype_and_out_of_memory() -> None:
    assert teacher_dtype(False, False) is torch.float32
    assert teacher_dtype(True, True) is torch.bfloat16
    assert teacher_dtype(True, False) is torch.float16  # T4/V100: fp16, not bf16
    assert is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_out_of_memory(MemoryError())
    assert is_out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp] can't allocate memory"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
