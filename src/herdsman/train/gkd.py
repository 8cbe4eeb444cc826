"""``objective: gkd``: on-policy distillation with the teacher beside the student (TRL).

TRL's ``DistillationTrainer`` (Agarwal et al., *On-Policy Distillation of
Language Models*, 2024): for every optimiser step the student samples answers
to a batch of prompts (the student's wrapper text, as the ``sft`` path renders
it), then teacher and student score those answers and the student is moved
towards the teacher's next-token distribution over the whole vocabulary (TRL's
generalised Jensen-Shannon divergence, its default ``beta``). ``kd_temperature``
is TRL's ``temperature`` (sampling and loss); answers are at most
``max_completion_length`` tokens: ``max_length`` minus the longest prompt, at
least :data:`MIN_COMPLETION` tokens.

The teacher is ``teacher_model``: a local folder, a cached hub id or an
embedded alias (resolved like a student's base), with the student's exact
vocabulary. Nothing is stored: the teacher runs in the training process.

Where it fits on one machine: teacher and student weights are both in memory
(the teacher in the training precision, no optimiser state, no gradients), and
each step pays for sampling ``batch_size`` answers with the student plus one
teacher forward pass over them. A 135M student with a 1-2B teacher fits a
24 GB GPU; on a CPU it is for tiny models and tests. A teacher too big for the
student's GPU is a case for ``objective: kd`` (stored log-probabilities) instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from herdsman.errors import HerdsmanError
from herdsman.io.logprobs import vocab_fingerprint
from herdsman.train.bases import StudentBase, resolve_base

if TYPE_CHECKING:
    from herdsman.config import StudentConfig
    from herdsman.train.plan import TrainPlan

#: Fewest answer tokens sampled per prompt, whatever max_length leaves.
MIN_COMPLETION = 16


def resolve_teacher(student: StudentConfig, architecture: str, tokenizer: Any) -> StudentBase:
    """The gkd teacher's folder, after checking it can teach this student.

    Raises:
        HerdsmanError: An encoder-decoder student, no ``teacher_model``, a
            teacher that cannot be found or is not decoder-only, or one whose
            vocabulary differs from the student's.
    """
    from transformers import AutoTokenizer

    if architecture != "causal":
        raise HerdsmanError(
            f"student '{student.name}': objective gkd trains decoder-only students; "
            f"{student.base} is an encoder-decoder model (use objective: sft)"
        )
    if not student.teacher_model:
        raise HerdsmanError(
            f"student '{student.name}': objective gkd needs teacher_model (a local folder, cached "
            "hub id or embedded alias of a decoder-only teacher with the student's tokenizer)"
        )
    teacher = resolve_base(student.teacher_model, "auto")
    if teacher.architecture != "causal":
        raise HerdsmanError(
            f"student '{student.name}': teacher_model {student.teacher_model} is an "
            "encoder-decoder model; gkd needs a decoder-only teacher"
        )
    theirs = vocab_fingerprint(AutoTokenizer.from_pretrained(teacher.path).get_vocab())
    mine = vocab_fingerprint(tokenizer.get_vocab())
    if theirs != mine:
        raise HerdsmanError(
            f"student '{student.name}': objective gkd needs one vocabulary, but the student base "
            f"{student.base} ({mine}) and teacher_model {student.teacher_model} ({theirs}) have "
            "different tokenizers"
        )
    return teacher


def completion_length(prompts: list[str], tokenizer: Any, max_length: int) -> int:
    """Answer tokens sampled per prompt: what ``max_length`` leaves after the longest prompt."""
    longest = max((len(ids) for ids in tokenizer(prompts)["input_ids"]), default=0)
    return max(MIN_COMPLETION, max_length - longest)


def build_gkd_trainer(
    student: StudentConfig,
    plan: TrainPlan,
    model: Any,
    tokenizer: Any,
    callbacks: list[Any],
    teacher: StudentBase,
) -> Any:
    """A TRL ``DistillationTrainer`` for the student, with the plan's arguments.

    The held-out split is not scored (each evaluation would sample answers);
    the outcome's held-out loss stays empty.
    """
    import copy

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import DistillationConfig, DistillationTrainer

    prompts = [row["prompt"] for row in plan.data.train]
    args = DistillationConfig(
        **plan.trainer_arguments(student),
        temperature=student.kd_temperature,
        max_completion_length=completion_length(prompts, tokenizer, student.max_length),
    )
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(plan.precision, torch.float32)
    teacher_model = AutoModelForCausalLM.from_pretrained(
        teacher.path, dtype=dtype, attn_implementation=plan.attention
    )
    left = copy.deepcopy(tokenizer)  # generation pads on the left; the saved tokenizer is unchanged
    left.padding_side = "left"
    left.truncation_side = "left"
    return DistillationTrainer(
        model=model,
        teacher_model=teacher_model,
        args=args,
        train_dataset=Dataset.from_list([{"prompt": p} for p in prompts]),
        processing_class=left,
        callbacks=callbacks,
    )
