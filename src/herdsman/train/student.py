"""``herdsman train``: one student, from base and dataset to a standard Hugging Face folder.

The folder (``OUT/``) holds config, safetensors weights, tokenizer, generation
config, ``README.md`` (model card: base, data, hyperparameters, loss curve),
``loss_curve.png`` and ``herdsman-train.json`` (metrics, and the prompt
wrapper evaluation must reuse). LoRA students are saved merged in ``OUT/``
and as an adapter in ``OUT/adapter/``. Checkpoints go to
``OUT/.checkpoints/`` and a re-run resumes from the newest one; they are
removed once the student is saved. The trackers of ``report_to`` log the run;
TensorBoard's event files go to ``OUT/logs/`` (emptied when a training starts
afresh). Under ``accelerate launch`` every process trains and only the first
writes files.

What the student starts from and what it learns are two settings:

- ``init``: ``base`` (the base model as it is) or ``prune`` (the base cut to
  ``keep_layers`` decoder layers, :mod:`herdsman.train.prune`; the cut model is
  saved to ``OUT/init/`` before training and is the student's comparison base);
- ``objective``: ``sft`` (the teacher's text through TRL's ``SFTTrainer`` or
  ``Seq2SeqTrainer``), ``kd`` (the teacher's stored top-k log-probabilities,
  :mod:`herdsman.train.kd`) or ``gkd`` (on-policy distillation with the teacher
  beside the student, :mod:`herdsman.train.gkd`).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from herdsman.config import StudentConfig
from herdsman.console import console
from herdsman.errors import HerdsmanError, is_out_of_memory
from herdsman.io.atomic import write_text_atomic
from herdsman.train.bases import StudentBase, resolve_base
from herdsman.train.data import TrainingData, build_training_data
from herdsman.train.plan import TrainPlan, is_main_process
from herdsman.train.wrappers import choose_wrapper

TRAIN_RECORD = "herdsman-train.json"


@dataclass
class TrainOutcome:
    """What training a student produced."""

    name: str
    base: str
    architecture: str
    method: str
    wrapper: str
    parameters: int
    examples: int
    held_out_examples: int
    steps: int
    train_seconds: float
    real_tokens: int
    tokens_per_second: float
    final_loss: float | None
    held_out_loss: float | None
    resumed_from: str | None
    output: str
    loss_curve: list[tuple[int, float]]
    fingerprint: str | None = None
    precision: str = "fp32"
    attention: str = "sdpa"
    objective: str = "sft"
    #: ``{"kind": "base", "from": BASE}`` or pruning's record (``kind``, ``from``,
    #: ``kept_layers``, ``influence``, ``parameters``); ``None`` in older records.
    init: dict[str, Any] | None = None


def _load_model(path: Path, architecture: str, attention: str) -> Any:
    """The base in float32 (the trainer autocasts; the optimizer keeps fp32 master weights)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    if architecture == "seq2seq":
        return AutoModelForSeq2SeqLM.from_pretrained(path, dtype=torch.float32)
    # SDPA builds the block-diagonal mask packed rows need from their position ids;
    # FlashAttention-2 takes them as variable-length sequences.
    return AutoModelForCausalLM.from_pretrained(
        path, dtype=torch.float32, attn_implementation=attention
    )


def _real_tokens(plan: TrainPlan, tokenizer: Any, max_length: int) -> int:
    """Prompt + completion tokens of the training set (no padding), capped at max_length."""
    rows = plan.data.train
    prompts = tokenizer([r["prompt"] for r in rows], add_special_tokens=False)["input_ids"]
    answers = tokenizer([r["completion"] for r in rows], add_special_tokens=False)["input_ids"]
    if plan.base.architecture == "seq2seq":
        return sum(
            min(len(p) + 1, max_length) + min(len(a) + 1, max_length)
            for p, a in zip(prompts, answers, strict=True)
        )
    return sum(min(len(p) + len(a) + 1, max_length) for p, a in zip(prompts, answers, strict=True))


def _latest_checkpoint(folder: Path) -> str | None:
    """The newest complete checkpoint; incomplete ones (a kill while saving) are removed.

    The Trainer writes ``trainer_state.json`` last, so a folder without it was
    cut short and cannot be resumed from.
    """
    if not folder.is_dir():
        return None
    found = [p for p in folder.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    for path in sorted(found, key=lambda p: int(p.name.split("-")[-1]), reverse=True):
        if (path / "trainer_state.json").is_file():
            return str(path)
        if is_main_process():
            shutil.rmtree(path, ignore_errors=True)
    return None


def _progress_callback(name: str) -> Any:
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        """A line every tenth of the run: step, loss."""

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if not state.is_world_process_zero or not logs or "loss" not in logs:
                return
            every = max(1, state.max_steps // 10)
            if state.global_step in (1, state.max_steps) or state.global_step % every == 0:
                console.print(
                    f"  {name}: step {state.global_step}/{state.max_steps} loss {logs['loss']:.4f}"
                )

    return Progress()


def train_student(
    student: StudentConfig, data_path: Path, out_dir: Path, fingerprint: str | None = None
) -> TrainOutcome:
    """Train one student on a LaMini dataset and save it as a Hugging Face folder.

    Args:
        student: The student's config (base, method, hyperparameters).
        data_path: A herdsman ``dataset/`` folder (train and held-out splits)
            or any LaMini-format file (all rows train).
        out_dir: The student folder.
        fingerprint: Recorded in ``herdsman-train.json`` (the pipeline's up-to-date check).

    Raises:
        HerdsmanError: Bad base, unusable data, max_length shorter than the
            wrapper, or out of memory (with the settings to change).
    """
    import datasets
    from transformers import AutoTokenizer
    from transformers.utils import logging

    logging.disable_progress_bar()  # the Progress callback reports; no tqdm bars in logs
    datasets.disable_progress_bars()
    base = resolve_base(student.base, student.architecture, student.seed)
    tokenizer = AutoTokenizer.from_pretrained(base.path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    wrapper = choose_wrapper(student.wrapper, tokenizer, base.architecture)
    kd_data = None
    if student.objective == "kd":
        from herdsman.train.kd import build_kd_data, check_kd_student

        check_kd_student(student, base.architecture, tokenizer, data_path)
        kd_data = build_kd_data(data_path, tokenizer, wrapper, student.max_length)
        data = kd_data.data
    else:
        data = build_training_data(
            data_path, tokenizer, wrapper, student.max_length, base.architecture
        )
    teacher = None
    if student.objective == "gkd":
        from herdsman.train.gkd import resolve_teacher

        teacher = resolve_teacher(student, base.architecture, tokenizer)
    plan = TrainPlan.make(student, base, wrapper, data, out_dir)
    init: dict[str, Any] = {"kind": "base", "from": base.name}
    if student.init == "prune":
        calibration = (
            [list(e["input_ids"]) for e in kd_data.train[: student.calibration_samples]]
            if kd_data is not None
            else _calibration_ids(data, tokenizer, student)
        )
        plan.base, init = _prune_base(student, plan, tokenizer, calibration)
    model = _load_model(plan.base.path, plan.base.architecture, plan.attention)
    with plan.tracking():  # the trackers of student.report_to are created with the trainer
        trainer = _build_trainer(student, plan, model, tokenizer, kd_data, teacher)
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # raw log dicts on stdout; Progress prints lines
    resume = _latest_checkpoint(plan.checkpoints)
    if resume and is_main_process():
        console.print(f"  {student.name}: resuming from {Path(resume).name}")
    elif is_main_process():  # a fresh run: no curves of an earlier training beside its own
        shutil.rmtree(plan.logs, ignore_errors=True)
    started = time.perf_counter()
    try:
        trainer.train(resume_from_checkpoint=resume)
    except (RuntimeError, MemoryError) as exc:
        if not is_out_of_memory(exc):
            raise
        raise HerdsmanError(
            f"student '{student.name}': out of memory with per_device_batch_size "
            f"{student.per_device_batch_size} and max_length {student.max_length}; lower "
            "per_device_batch_size (gradient accumulation keeps the effective batch_size), "
            "lower max_length, or use method: lora"
        ) from None
    seconds = time.perf_counter() - started
    held_loss = None
    if data.held_out and trainer.eval_dataset is not None:
        held_loss = float(trainer.evaluate()["eval_loss"])
    history = [(int(h["step"]), float(h["loss"])) for h in trainer.state.log_history if "loss" in h]
    real = (
        kd_data.real_tokens
        if kd_data is not None
        else _real_tokens(plan, tokenizer, student.max_length)
    )
    epochs_done = float(trainer.state.epoch or 0.0)
    outcome = TrainOutcome(
        name=student.name,
        base=plan.base.name,
        architecture=plan.base.architecture,
        method=student.method,
        wrapper=wrapper,
        parameters=0,
        examples=len(data.train),
        held_out_examples=len(data.held_out),
        steps=int(trainer.state.global_step),
        train_seconds=round(seconds, 2),
        real_tokens=real,
        tokens_per_second=round(real * epochs_done / seconds, 1) if seconds > 0 else 0.0,
        final_loss=history[-1][1] if history else None,
        held_out_loss=held_loss,
        resumed_from=Path(resume).name if resume else None,
        output=str(out_dir),
        loss_curve=history,
        fingerprint=fingerprint,
        precision=plan.precision,
        attention=plan.attention,
        objective=student.objective,
        init=init,
    )
    _save(trainer, tokenizer, student, plan, outcome, data_path)
    return outcome


def _build_trainer(
    student: StudentConfig,
    plan: TrainPlan,
    model: Any,
    tokenizer: Any,
    kd_data: Any,
    teacher: Any,
) -> Any:
    """The trainer of the student's objective and architecture (each reports to ``report_to``)."""
    callbacks = [_progress_callback(student.name)]
    if kd_data is not None:
        from herdsman.train.kd import build_kd_trainer

        return build_kd_trainer(student, plan, model, tokenizer, callbacks, kd_data)
    if teacher is not None:
        from herdsman.train.gkd import build_gkd_trainer

        return build_gkd_trainer(student, plan, model, tokenizer, callbacks, teacher)
    if plan.base.architecture == "seq2seq":
        from herdsman.train.seq2seq import build_seq2seq_trainer

        return build_seq2seq_trainer(student, plan, model, tokenizer, callbacks)
    from herdsman.train.causal import build_causal_trainer

    return build_causal_trainer(student, plan, model, tokenizer, callbacks)


def _calibration_ids(data: TrainingData, tokenizer: Any, student: StudentConfig) -> list[list[int]]:
    """The first ``calibration_samples`` training pairs as the student sees them (token ids)."""
    rows = data.train[: student.calibration_samples]
    encoded = tokenizer(
        [r["prompt"] + r["completion"] for r in rows],
        add_special_tokens=True,
        truncation=True,
        max_length=student.max_length,
    )["input_ids"]
    return [list(ids) for ids in encoded]


def _prune_base(
    student: StudentConfig, plan: TrainPlan, tokenizer: Any, calibration: list[list[int]]
) -> tuple[StudentBase, dict[str, Any]]:
    """Cut the base to ``keep_layers`` layers and save it to ``OUT/init/`` (the new base).

    Raises:
        HerdsmanError: The base has no decoder layer stack, or ``keep_layers``
            is out of range.
    """
    from herdsman.train.prune import INIT_FOLDER, prune_model, save_pruned

    assert student.keep_layers is not None  # the config requires it with init: prune
    model = _load_model(plan.base.path, plan.base.architecture, plan.attention)
    result = prune_model(model, calibration, student.keep_layers, plan.base.name)
    folder = (plan.out_dir / INIT_FOLDER).resolve()
    if is_main_process():
        save_pruned(model, tokenizer, folder)
        console.print(
            f"  {student.name}: pruned {plan.base.name} to {len(result.kept_layers)} of "
            f"{result.num_layers} layers ({result.parameters:,} parameters) -> {folder}"
        )
    del model
    _wait_for_main_process()
    return StudentBase(folder, "causal", str(folder)), result.record()


def _wait_for_main_process() -> None:
    """Under ``accelerate launch``, let every process wait until the first has written files."""
    from herdsman.train.plan import world_size

    if world_size() > 1:
        from accelerate import PartialState

        PartialState().wait_for_everyone()


def _generation_defaults(config: Any, tokenizer: Any) -> None:
    """Greedy answers ending at the tokenizer's end token (what evaluation expects)."""
    config.eos_token_id = tokenizer.eos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    config.max_new_tokens = 256
    config.do_sample = False
    for unset in ("temperature", "top_p", "top_k"):
        if hasattr(config, unset):
            setattr(config, unset, None)


def _saved_parameters(folder: Path) -> int:
    """Parameters in the saved weight files (a sharded or partitioned model counts right)."""
    from safetensors import safe_open

    total = 0
    for path in sorted(folder.glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as f:
            for name in f.keys():  # noqa: SIM118 - safe_open is not a mapping
                count = 1
                for dim in f.get_slice(name).get_shape():
                    count *= int(dim)
                total += count
    return total


def _save(
    trainer: Any,
    tokenizer: Any,
    student: StudentConfig,
    plan: TrainPlan,
    outcome: TrainOutcome,
    data_path: Path,
) -> None:
    """Save the student whole, however it was trained.

    Every rank calls the trainer's ``save_model``: under FSDP the model is
    wrapped and under DeepSpeed ZeRO-3 its parameters are partitioned, and
    gathering them into one state dict needs every process. A LoRA adapter is
    saved the same way, then merged into a fresh float32 copy of the base on
    rank 0 (merging a sharded model in place would fail). Cards, the loss
    curve and the training record are written by rank 0 only.
    """
    from herdsman.train.model_card import plot_loss_curve, render_model_card

    out = plan.out_dir
    out.mkdir(parents=True, exist_ok=True)
    unwrapped = trainer.accelerator.unwrap_model(trainer.model)
    _generation_defaults(unwrapped.generation_config, tokenizer)
    trainer.save_model(str(out / "adapter" if student.method == "lora" else out))
    trainer.accelerator.wait_for_everyone()
    if not trainer.is_world_process_zero():
        return
    if student.method == "lora":
        from peft import PeftModel

        tokenizer.save_pretrained(out / "adapter")
        base = _load_model(plan.base.path, plan.base.architecture, plan.attention)
        merged = PeftModel.from_pretrained(base, out / "adapter").merge_and_unload()
        _generation_defaults(merged.generation_config, tokenizer)
        merged.save_pretrained(out)
    tokenizer.save_pretrained(out)
    outcome.parameters = _saved_parameters(out)
    plot_loss_curve(outcome.loss_curve, out / "loss_curve.png", outcome.name)
    (out / "README.md").write_text(
        render_model_card(student, outcome, data_path, plan), encoding="utf-8"
    )
    write_text_atomic(out / TRAIN_RECORD, json.dumps(asdict(outcome), indent=2))
    shutil.rmtree(plan.checkpoints, ignore_errors=True)


def read_outcome(folder: Path) -> dict[str, Any]:
    """The ``herdsman-train.json`` of a trained student.

    Raises:
        HerdsmanError: Not a herdsman student folder.
    """
    try:
        data: dict[str, Any] = json.loads((folder / TRAIN_RECORD).read_text())
    except (OSError, ValueError) as exc:
        raise HerdsmanError(f"{folder}: not a trained herdsman student ({exc})") from None
    return data
