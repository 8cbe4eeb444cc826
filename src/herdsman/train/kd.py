"""``objective: kd``: decoder-only students trained on the teacher's stored top-k log-probabilities.

``respond`` with ``logprobs: K`` keeps, for every answer token, the token id
the teacher produced and the K tokens it found most likely with their
log-probabilities (:mod:`herdsman.io.logprobs`); the dataset stage exports them
to ``DATA/logprobs/SPLIT.parquet`` keyed by ``call_key``. Each training example
here is the student's prompt (the same wrapper text the ``sft`` path renders,
tokenised by the student's tokenizer) followed by the teacher's ``token_ids``
exactly as stored: the response text is never tokenised again, so position
``t`` of the stored top-k lines up with answer token ``t``.

Positions, for a prompt of ``P`` tokens and an answer of ``n`` tokens
(``input_ids = prompt_ids + token_ids``):

- ``labels[P + t] = token_ids[t]`` and ``teacher_top_*[P + t] = top_*[t]``
  for ``0 <= t < n``; every other label is ``-100``;
- the student's logits at ``P + t - 1`` predict ``labels[P + t]`` (the usual
  causal shift, done in :meth:`KDTrainer.compute_loss`), so they are compared
  with the teacher's distribution ``top_*[t]`` that produced ``token_ids[t]``.

An example longer than ``max_length`` loses the end of its answer (the prompt
and the first answer tokens keep their positions). The loss is
``kd_alpha * kd_loss + (1 - kd_alpha) * cross-entropy on token_ids``, both
averaged over answer tokens (exactly, across gradient-accumulation steps).

The student must share the teacher's tokenizer (same vocabulary fingerprint as
``DATA/logprobs/meta.json``): a pruned teacher, or another model of its family.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from herdsman.errors import HerdsmanError
from herdsman.io.logprobs import LogprobsMeta, TeacherTokens, read_logprobs, vocab_fingerprint
from herdsman.train.data import MIN_COMPLETION_TOKENS, TrainingData, wrapper_overhead
from herdsman.train.wrappers import wrap

if TYPE_CHECKING:
    import torch

    from herdsman.config import StudentConfig
    from herdsman.train.plan import TrainPlan

LOGPROBS = "logprobs"
#: Smallest probability given to the student's tail bucket (its log is about -27.6).
TAIL_EPSILON = 1e-12
#: The student's log-probability written at padding entries: exp() of it is 0 in float32.
NO_MASS = -1e4


def logprobs_folder(data_path: Path) -> Path:
    """Where a dataset folder keeps the teacher's log-probabilities."""
    return data_path / LOGPROBS


def _log1mexp(a: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(a))`` for ``a <= 0``, stable at both ends (Maechler's switch at -log 2).

    ``a`` is first capped at ``log(1 - TAIL_EPSILON)``, so the result is at least
    ``log(TAIL_EPSILON)``; each branch only ever sees inputs where it is finite,
    so gradients stay finite too (``torch.where`` differentiates both branches).
    """
    import torch

    cut = -math.log(2.0)
    a = a.clamp(max=math.log1p(-TAIL_EPSILON))
    high = a > cut
    near_zero = torch.where(high, a, torch.full_like(a, cut))
    far = torch.where(high, torch.full_like(a, cut), a)
    return torch.where(high, torch.log(-torch.expm1(near_zero)), torch.log1p(-torch.exp(far)))


def kd_position_losses(
    student_logits: torch.Tensor,
    top_ids: torch.Tensor,
    top_logprobs: torch.Tensor,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Per-position ``tau**2 * KL(teacher || student)`` over the top-k classes and a tail bucket.

    Args:
        student_logits: ``(N, V)`` raw student logits, one row per answer position.
        top_ids: ``(N, k)`` the teacher's top-k token ids (``-1`` = padding).
        top_logprobs: ``(N, k)`` their log-probabilities (``-inf`` = padding).
        temperature: ``tau``.

    Returns:
        ``(N,)`` float32 losses (see :func:`kd_loss` for the formula).
    """
    import torch

    logits = student_logits.float()
    teacher_lp = top_logprobs.float()
    valid = (top_ids >= 0) & torch.isfinite(teacher_lp)
    neg_inf = torch.tensor(-math.inf, device=logits.device)
    # Teacher: k classes and the tail, softened by tau, renormalised over the k+1 classes.
    teacher_lp = torch.where(valid, teacher_lp, neg_inf)
    mass = torch.where(valid, teacher_lp.exp(), torch.zeros_like(teacher_lp)).sum(-1)
    tail = (1.0 - mass).clamp(min=0.0)
    tail_lp = torch.where(tail > 0, tail.clamp(min=1e-38).log(), neg_inf)
    teacher_classes = torch.cat([teacher_lp, tail_lp.unsqueeze(-1)], dim=-1) / temperature
    teacher_log_q = torch.log_softmax(teacher_classes, dim=-1)
    teacher_q = teacher_log_q.exp()
    # Student: softened over the whole vocabulary, gathered at the teacher's ids; the rest is the tail.
    student_lp = torch.log_softmax(logits / temperature, dim=-1)
    gathered = student_lp.gather(-1, top_ids.clamp(min=0).long())
    # Padding entries get a finite stand-in with no mass (a row of padding only stays finite).
    gathered = torch.where(valid, gathered, torch.full_like(gathered, NO_MASS))
    covered = torch.logsumexp(gathered, dim=-1)  # log of the student's mass on the top-k
    student_tail = _log1mexp(covered)  # at least log(TAIL_EPSILON)
    student_log_q = torch.cat([gathered, student_tail.unsqueeze(-1)], dim=-1)
    present = teacher_q > 0
    terms = torch.where(
        present,
        teacher_q * (teacher_log_q - student_log_q),
        torch.zeros_like(teacher_q),
    )
    return terms.sum(-1) * temperature**2


def kd_loss(
    student_logits: torch.Tensor,
    top_ids: torch.Tensor,
    top_logprobs: torch.Tensor,
    mask: torch.Tensor,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Forward KL from the teacher's stored top-k (plus a tail bucket) to the student.

    At every answer position (``mask`` true), with the teacher's top-k ids
    ``i_1..i_k`` and log-probabilities ``l_1..l_k`` (entries with id ``-1`` or
    log-probability ``-inf`` are padding and carry no mass) and temperature
    ``tau``::

        p_j    = exp(l_j)                          teacher, top-k
        p_tail = max(0, 1 - sum_j p_j)             teacher, everything else
        q_T    = softmax([l_1/tau, ..., l_k/tau, log(p_tail)/tau])     (k+1 classes)
        s      = log_softmax(student_logits / tau)                     (whole vocabulary)
        q_S    = [exp(s[i_1]), ..., exp(s[i_k]), max(eps, 1 - sum_j exp(s[i_j]))]
        loss   = tau**2 * mean over positions of sum_c q_T[c] * (log q_T[c] - log q_S[c])

    ``log(1 - sum_j exp(s[i_j]))`` is computed in log space (``logsumexp`` then
    ``log1p``/``expm1``); ``eps`` is :data:`TAIL_EPSILON`. Classes with
    ``q_T = 0`` add nothing. The ``tau**2`` factor (Hinton et al.) keeps the
    gradient scale independent of the temperature. At ``tau = 1`` the loss is 0
    exactly when the student gives the teacher's probability to each top-k
    token (its remaining mass then equals the teacher's tail).

    Args:
        student_logits: ``(..., V)`` student logits.
        top_ids: ``(..., k)`` teacher top-k ids.
        top_logprobs: ``(..., k)`` teacher top-k log-probabilities.
        mask: ``(...)`` booleans: the answer positions to average over.
        temperature: ``tau`` (> 0).

    Returns:
        A scalar tensor (0 when no position is masked in).
    """
    selected = mask.bool()
    if not bool(selected.any()):
        return student_logits.sum() * 0.0
    losses = kd_position_losses(
        student_logits[selected], top_ids[selected], top_logprobs[selected], temperature
    )
    return losses.mean()


# ----------------------------------------------------------------------------- refusals


def check_kd_student(
    student: StudentConfig, architecture: str, tokenizer: Any, data_path: Path
) -> LogprobsMeta:
    """Refuse, in one line, a kd student that cannot train on the stored log-probabilities.

    Raises:
        HerdsmanError: An encoder-decoder student, no ``DATA/logprobs/train.parquet``,
            or a student tokenizer whose vocabulary is not the teacher's.
    """
    if architecture != "causal":
        raise HerdsmanError(
            f"student '{student.name}': objective kd trains decoder-only students; {student.base} "
            "is an encoder-decoder model (use objective: sft)"
        )
    folder = logprobs_folder(data_path)
    if not (folder / "train.parquet").is_file():
        raise HerdsmanError(
            f"student '{student.name}': objective kd needs the teacher's log-probabilities: run "
            f"respond with logprobs (respond.logprobs / --logprobs K); {folder / 'train.parquet'} "
            "does not exist"
        )
    meta = LogprobsMeta.read(folder)
    mine = vocab_fingerprint(tokenizer.get_vocab())
    if mine != meta.vocab:
        raise HerdsmanError(
            f"student '{student.name}': objective kd needs the teacher's tokenizer, but the "
            f"student base {student.base} has another vocabulary (fingerprint {mine}) than the "
            f"teacher's tokenizer {meta.tokenizer} ({meta.vocab}); use a student of the teacher's "
            "family, init: prune, or objective: sft"
        )
    return meta


# ----------------------------------------------------------------------------- examples


@dataclass
class KDData:
    """Tokenised kd examples and the prompt/completion view the plan and the card use."""

    data: TrainingData
    train: list[dict[str, Any]]
    held_out: list[dict[str, Any]] = field(default_factory=list)

    @property
    def real_tokens(self) -> int:
        """Prompt + answer tokens of the training examples (after truncation)."""
        return sum(len(e["input_ids"]) for e in self.train)


def kd_example(prompt_ids: list[int], tokens: TeacherTokens, max_length: int) -> dict[str, Any]:
    """One training example: prompt ids, then the teacher's ids; the answer cut to ``max_length``.

    ``labels`` and ``top_*`` are given at the positions of the answer tokens
    themselves (see the module docstring); the trainer shifts them.
    """
    keep = max(0, min(len(tokens), max_length - len(prompt_ids)))
    answer = tokens.token_ids[:keep].astype(np.int64)
    return {
        "input_ids": np.concatenate([np.asarray(prompt_ids, dtype=np.int64), answer]),
        "prompt_length": len(prompt_ids),
        "top_ids": tokens.top_ids[:keep],
        "top_logprobs": tokens.top_logprobs[:keep],
    }


def _split_rows(data_path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from herdsman.dataset.read import read_dataset

    frame = read_dataset(data_path)
    if "call_key" not in frame:
        frame["call_key"] = None
    columns = ["instruction", "response", "call_key", *(["split"] if "split" in frame else [])]
    records = frame[columns].to_dict("records")
    if "split" in frame:
        return (
            [r for r in records if r["split"] != "held_out"],
            [r for r in records if r["split"] == "held_out"],
        )
    return records, []


def _key(row: dict[str, Any]) -> str | None:
    key = row.get("call_key")
    return key if isinstance(key, str) and key else None


def build_kd_data(data_path: Path, tokenizer: Any, wrapper: str, max_length: int) -> KDData:
    """Read the splits and the stored log-probabilities into kd examples.

    Rows with an empty response, or a prompt that leaves fewer than
    ``MIN_COMPLETION_TOKENS`` of ``max_length``, are dropped (as for ``sft``).
    Held-out rows are used when ``logprobs/held_out.parquet`` exists (those
    without stored log-probabilities are left out of the held-out loss).

    Raises:
        HerdsmanError: ``max_length`` shorter than the wrapper, a training row
            without stored log-probabilities (how many, and the first), or no
            usable row.
    """
    overhead = wrapper_overhead(tokenizer, wrapper)
    if max_length < overhead + MIN_COMPLETION_TOKENS + 1:
        raise HerdsmanError(
            f"max_length {max_length} is too short: the '{wrapper}' wrapper alone takes "
            f"{overhead} tokens (use max_length >= {overhead + 64} or wrapper: none)"
        )
    folder = logprobs_folder(data_path)
    train_rows, held_rows = _split_rows(data_path)
    stored = read_logprobs(folder / "train.parquet")
    missing = [r for r in train_rows if _key(r) not in stored]
    if missing:
        first = _key(missing[0]) or f"a row without a call_key ({missing[0]['instruction'][:40]!r})"
        raise HerdsmanError(
            f"{folder / 'train.parquet'}: {len(missing)} of {len(train_rows)} training rows have "
            f"no stored log-probabilities (first: {first}); re-run respond with logprobs and the "
            "dataset stage"
        )
    held_path = folder / "held_out.parquet"
    held_stored = read_logprobs(held_path) if held_rows and held_path.is_file() else {}
    view = TrainingData([], [])
    out = KDData(view, [])
    for rows, table, pairs, examples, is_train in (
        (train_rows, stored, view.train, out.train, True),
        (held_rows, held_stored, view.held_out, out.held_out, False),
    ):
        if not is_train and not table:
            continue
        prompts = [wrap(r["instruction"], wrapper, tokenizer) for r in rows]
        ids = tokenizer(prompts, add_special_tokens=True)["input_ids"] if prompts else []
        for row, prompt, prompt_ids in zip(rows, prompts, ids, strict=True):
            tokens = table.get(_key(row) or "")
            if tokens is None:
                continue
            if not str(row["response"]).strip() or len(tokens) == 0:
                view.dropped_empty += is_train
            elif len(prompt_ids) > max_length - MIN_COMPLETION_TOKENS:
                view.dropped_too_long += is_train
            else:
                pairs.append({"prompt": prompt, "completion": str(row["response"]).strip()})
                examples.append(kd_example(prompt_ids, tokens, max_length))
    if not out.train:
        raise HerdsmanError(
            f"{data_path}: no usable training rows ({view.dropped_empty} with empty responses, "
            f"{view.dropped_too_long} with prompts longer than max_length {max_length})"
        )
    return out


@dataclass
class KDCollator:
    """Pads kd examples into a batch (right padding, ``-100`` labels off the answer).

    Returns ``input_ids``, ``attention_mask``, ``labels`` (``B x L``) and
    ``teacher_top_ids`` / ``teacher_top_logprobs`` (``B x L x k``, ``-1`` /
    ``-inf`` off the answer), all at the answer tokens' own positions.
    """

    pad_token_id: int

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(e["input_ids"]) for e in examples)
        k = max(int(np.shape(e["top_ids"])[1]) if len(e["top_ids"]) else 1 for e in examples)
        batch = len(examples)
        ids = torch.full((batch, width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((batch, width), dtype=torch.long)
        labels = torch.full((batch, width), -100, dtype=torch.long)
        top_ids = torch.full((batch, width, k), -1, dtype=torch.long)
        top_lp = torch.full((batch, width, k), -math.inf, dtype=torch.float32)
        for row, e in enumerate(examples):
            seq = torch.as_tensor(np.asarray(e["input_ids"]), dtype=torch.long)
            start, n = int(e["prompt_length"]), len(seq)
            ids[row, :n] = seq
            mask[row, :n] = 1
            labels[row, start:n] = seq[start:]
            if n > start:
                kk = int(np.shape(e["top_ids"])[1])
                top_ids[row, start:n, :kk] = torch.as_tensor(
                    np.asarray(e["top_ids"]), dtype=torch.long
                )
                top_lp[row, start:n, :kk] = torch.as_tensor(
                    np.asarray(e["top_logprobs"], dtype=np.float32)
                )
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "labels": labels,
            "teacher_top_ids": top_ids,
            "teacher_top_logprobs": top_lp,
        }


class _Examples:
    """A list of examples as a map-style dataset (keeps numpy arrays; no Arrow round trip)."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.rows[index]


def _kd_trainer_class() -> type:
    from transformers import Trainer

    class KDTrainer(Trainer):
        """``Trainer`` whose loss mixes :func:`kd_loss` and cross-entropy on the teacher's ids."""

        kd_alpha: float = 0.5
        kd_temperature: float = 1.0

        def compute_loss(
            self,
            model: Any,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            import torch
            import torch.nn.functional as F

            labels = inputs.pop("labels")
            top_ids = inputs.pop("teacher_top_ids")
            top_lp = inputs.pop("teacher_top_logprobs")
            outputs = model(**inputs, use_cache=False)
            # logits at position i predict the token at i + 1
            logits = outputs.logits[:, :-1]
            target = labels[:, 1:]
            selected = target != -100
            rows = logits[selected]
            alpha = self.kd_alpha
            total = rows.new_zeros((), dtype=torch.float32)
            if rows.shape[0]:
                if alpha > 0:
                    kd = kd_position_losses(
                        rows, top_ids[:, 1:][selected], top_lp[:, 1:][selected], self.kd_temperature
                    ).sum()
                    total = total + alpha * kd
                if alpha < 1:
                    ce = F.cross_entropy(rows.float(), target[selected], reduction="sum")
                    total = total + (1 - alpha) * ce
            if num_items_in_batch is not None and self.model_accepts_loss_kwargs:
                loss = total / num_items_in_batch
                if self.args.average_tokens_across_devices:
                    loss = loss * self.accelerator.num_processes
            else:
                loss = total / max(1, int(selected.sum()))
            return (loss, outputs) if return_outputs else loss

    return KDTrainer


def build_kd_trainer(
    student: StudentConfig,
    plan: TrainPlan,
    model: Any,
    tokenizer: Any,
    callbacks: list[Any],
    kd_data: KDData,
) -> Any:
    """A ``Trainer`` for ``objective: kd`` with the plan's arguments (padded batches, no packing)."""
    from transformers import TrainingArguments

    arguments = plan.trainer_arguments(student)
    if student.padding == "packing":
        arguments["train_sampling_strategy"] = "group_by_length"  # kd batches are padded
    args = TrainingArguments(**arguments, remove_unused_columns=False, prediction_loss_only=True)
    trainer_class = _kd_trainer_class()
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=_Examples(kd_data.train),
        eval_dataset=_Examples(kd_data.held_out) if kd_data.held_out else None,
        data_collator=KDCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    trainer.kd_alpha = student.kd_alpha
    trainer.kd_temperature = student.kd_temperature
    return trainer
