"""Decoder-only students: TRL's ``SFTTrainer`` on prompt/completion data, loss on the completion.

Padding reduction (``padding`` in the student config):

- ``packing`` (default for causal students): TRL's best-fit-decreasing packing:
  several examples share one row of at most ``max_length`` tokens and each
  restarts its ``position_ids`` at 0. From those position ids transformers
  (>= 5) builds a block-diagonal causal mask for the SDPA and eager kernels
  too, so no example attends to another (``tests/train/test_student.py`` checks
  per-example losses against each example alone). TRL then flattens the
  whole batch into one row, which is right for FlashAttention's varlen
  kernels; SDPA and eager compute the full masked square, so with them
  herdsman keeps each packed row as its own row (:class:`PackedRowsCollator`):
  attention costs ``batch x L^2`` instead of ``(batch x L)^2``. The row
  length ``L`` is the longest example (plus a small margin) when that is
  below ``max_length``: the same examples, no truncation, shorter rows, so
  less of the quadratic attention is spent on masked-out pairs;
- ``group_by_length``: padded batches of similar lengths
  (``train_sampling_strategy="group_by_length"``);
- ``none``: plain padded random batches (the benchmark's baseline).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from herdsman.config import StudentConfig
    from herdsman.train.plan import TrainPlan


@dataclass
class PackedRowsCollator:
    """Batches TRL-packed rows as rows (not one flat sequence), padded to the longest.

    Each row's ``position_ids`` restart at 0 for every example in it; the pad
    tail gets positions of its own (a separate "sequence" nobody attends to)
    and ``-100`` labels. There is no attention mask: the model derives the
    block-diagonal mask from the position ids. The first label of every
    example is ``-100`` too, so no example is trained to predict the next
    example's first token.
    """

    pad_token_id: int

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(e["input_ids"]) for e in examples)
        ids, labels, positions = [], [], []
        for e in examples:
            row, row_labels = list(e["input_ids"]), list(e.get("labels", e["input_ids"]))
            lengths = list(e.get("seq_lengths") or [len(row)])
            pos: list[int] = []
            for n in lengths:
                pos.extend(range(n))
            pad = width - len(row)
            pos.extend(range(pad))
            row_labels = [-100 if p == 0 else lab for p, lab in zip(pos, row_labels, strict=False)]
            ids.append(row + [self.pad_token_id] * pad)
            labels.append(row_labels + [-100] * pad)
            positions.append(pos)
        return {
            "input_ids": torch.tensor(ids),
            "labels": torch.tensor(labels),
            "position_ids": torch.tensor(positions),
        }


PACK_MARGIN = 8  # tokens: prompt and completion are tokenised apart, then joined


def pack_length(rows: list[dict[str, str]], tokenizer: Any, max_length: int) -> int:
    """Row length for packing: the longest example (+ margin), at most ``max_length``."""
    texts = [r["prompt"] + r["completion"] for r in rows]
    longest = max((len(ids) for ids in tokenizer(texts)["input_ids"]), default=max_length)
    return min(max_length, longest + PACK_MARGIN)


def build_causal_trainer(
    student: StudentConfig, plan: TrainPlan, model: Any, tokenizer: Any, callbacks: list[Any]
) -> Any:
    """An ``SFTTrainer`` for a decoder-only student (LoRA through PEFT when asked)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    packing = student.padding == "packing"
    args = SFTConfig(
        **plan.trainer_arguments(student),
        max_length=pack_length(plan.data.train, tokenizer, student.max_length)
        if packing
        else student.max_length,
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
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(plan.data.train),
        eval_dataset=Dataset.from_list(plan.data.held_out) if plan.data.held_out else None,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )
    attention = getattr(model.config, "_attn_implementation", None) or "sdpa"
    if args.packing and "flash" not in attention:
        trainer.data_collator = PackedRowsCollator(tokenizer.pad_token_id)
    return trainer
