"""Decoder-only students: TRL's ``SFTTrainer`` on prompt/completion data, loss on the completion.

Padding reduction (``padding`` in the student config):

- ``packing`` (default for causal students): TRL's best-fit-decreasing packing
  in padding-free form: several examples share one row of at most
  ``max_length`` tokens and each restarts its ``position_ids`` at 0. From those
  position ids transformers (>= 5) builds a block-diagonal causal mask for the
  SDPA and eager kernels too, so no example attends to another
  (``tests/test_train_causal.py`` checks per-example losses against each
  example alone);
- ``group_by_length``: padded batches of similar lengths
  (``train_sampling_strategy="group_by_length"``);
- ``none``: plain padded random batches (the benchmark's baseline).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from herdsman.config import StudentConfig
    from herdsman.train_plan import TrainPlan


def build_causal_trainer(
    student: StudentConfig, plan: TrainPlan, model: Any, tokenizer: Any, callbacks: list[Any]
) -> Any:
    """An ``SFTTrainer`` for a decoder-only student (LoRA through PEFT when asked)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        **plan.trainer_arguments(student),
        max_length=student.max_length,
        packing=student.padding == "packing",
        padding_free=student.padding == "packing",
        completion_only_loss=True,
        dataset_num_proc=None,
    )
    peft_config = None
    if student.method == "lora":
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=student.lora.r,
            lora_alpha=student.lora.alpha,
            lora_dropout=student.lora.dropout,
            target_modules=student.lora.target_modules,
            task_type="CAUSAL_LM",
        )
    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(plan.data.train),
        eval_dataset=Dataset.from_list(plan.data.held_out) if plan.data.held_out else None,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )
