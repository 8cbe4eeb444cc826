"""How a student trains on this hardware: mixed precision and the attention kernel.

Weights are always loaded in float32 and the trainer autocasts to bf16 or
fp16: the optimizer updates an fp32 master copy (updating bf16 weights
directly loses small updates to rounding). ``auto`` picks bf16 where the GPU
supports it (Ampere and newer), fp16 on older GPUs (T4, V100), fp32 on CPU.
FlashAttention-2 is used when it is installed, a GPU is present and the run
is in half precision (packed rows then go through its variable-length path,
with no L x L masks); SDPA otherwise.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from herdsman.errors import HerdsmanError

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
ATTENTIONS = ("auto", "sdpa", "flash_attention_2", "eager")


@dataclass(frozen=True)
class Hardware:
    """What the machine offers (read once with :func:`detect_hardware`)."""

    cuda: bool
    bf16: bool
    flash_attn: bool


def detect_hardware() -> Hardware:
    """This machine's GPU, its bf16 support, and whether flash-attn is installed."""
    import torch

    cuda = torch.cuda.is_available()
    return Hardware(
        cuda=cuda,
        bf16=bool(cuda and torch.cuda.is_bf16_supported()),
        flash_attn=importlib.util.find_spec("flash_attn") is not None,
    )


def resolve_precision(requested: str, hardware: Hardware) -> str:
    """``bf16``, ``fp16`` or ``fp32`` for a student's ``precision`` setting.

    Raises:
        HerdsmanError: A precision this hardware cannot train in (one line, with what to use).
    """
    if requested == "auto":
        if hardware.cuda:
            return "bf16" if hardware.bf16 else "fp16"
        return "fp32"
    if requested == "bf16" and hardware.cuda and not hardware.bf16:
        raise HerdsmanError(
            "precision bf16: this GPU does not support bfloat16 (T4, V100 and older); "
            "use precision: fp16 or auto"
        )
    if requested == "fp16" and not hardware.cuda:
        raise HerdsmanError(
            "precision fp16: mixed fp16 training needs a GPU; use precision: auto (fp32 on CPU) "
            "or bf16"
        )
    return requested


def resolve_attention(requested: str, precision: str, hardware: Hardware) -> str:
    """The attention kernel for a decoder-only student.

    Raises:
        HerdsmanError: ``flash_attention_2`` asked for where it cannot run.
    """
    can_flash = hardware.cuda and hardware.flash_attn and precision in ("bf16", "fp16")
    if requested == "auto":
        return "flash_attention_2" if can_flash else "sdpa"
    if requested == "flash_attention_2" and not can_flash:
        why = (
            "flash-attn is not installed (pip install flash-attn)"
            if not hardware.flash_attn
            else "it needs a GPU and precision bf16 or fp16"
        )
        raise HerdsmanError(f"attention flash_attention_2: {why}; use attention: auto")
    return requested
