"""Encoder-decoder students (T5, Flan-T5, BART...): transformers' ``Seq2SeqTrainer``.

TRL does not train encoder-decoder models. The raw instruction is the encoder
input and the response (plus end-of-sequence) the target, as in the paper.
Padding is reduced with length-grouped batches; the attention mask keeps pad
tokens out of attention and labels are padded with -100, so a padded batch
gives each example the loss it has alone (tested).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from herdsman.config import StudentConfig
    from herdsman.train.plan import TrainPlan


def tokenize_pairs(rows: list[dict[str, str]], tokenizer: Any, max_length: int) -> Any:
    """A ``datasets.Dataset`` of encoder ``input_ids`` and target ``labels``, truncated."""
    from datasets import Dataset

    eos = tokenizer.eos_token_id
    sources = tokenizer(
        [r["prompt"] for r in rows],
        max_length=max_length,
        truncation=True,
        add_special_tokens=False,
    )["input_ids"]
    targets = tokenizer(
        [r["completion"] for r in rows],
        max_length=max_length - 1,
        truncation=True,
        add_special_tokens=False,
    )["input_ids"]
    return Dataset.from_dict(
        {
            "input_ids": [[*s, eos] if len(s) < max_length else s for s in sources],
            "labels": [[*t, eos] for t in targets],
        }
    )


def build_seq2seq_trainer(
    student: StudentConfig, plan: TrainPlan, model: Any, tokenizer: Any, callbacks: list[Any]
) -> Any:
    """A ``Seq2SeqTrainer`` for an encoder-decoder student (LoRA through PEFT when asked)."""
    from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments

    if student.padding == "packing":
        student = student.model_copy(update={"padding": "group_by_length"})
    args = Seq2SeqTrainingArguments(**plan.trainer_arguments(student))
    if student.method == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model,
            LoraConfig(
                r=student.lora.r,
                lora_alpha=student.lora.alpha,
                lora_dropout=student.lora.dropout,
                target_modules=student.lora.target_modules,
                task_type="SEQ_2_SEQ_LM",
            ),
        )
    held = plan.data.held_out
    return Seq2SeqTrainer(
        model=model,
        args=args,
        train_dataset=tokenize_pairs(plan.data.train, tokenizer, student.max_length),
        eval_dataset=tokenize_pairs(held, tokenizer, student.max_length) if held else None,
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100),
        processing_class=tokenizer,
        callbacks=callbacks,
    )
