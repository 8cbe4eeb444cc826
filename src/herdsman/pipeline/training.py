"""Train a student unless the same settings and data already produced it (train and ablate stages)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from herdsman.config import StudentConfig
from herdsman.console import console
from herdsman.errors import HerdsmanError
from herdsman.pipeline.fingerprint import fingerprint
from herdsman.teachers.options import TeacherOptions


def with_teacher(student: StudentConfig, teacher: TeacherOptions) -> StudentConfig:
    """A gkd student's ``teacher_model``: the pipeline's local or vllm teacher unless set."""
    if student.objective != "gkd" or student.teacher_model or teacher.backend == "openai":
        return student
    from herdsman.pipeline.run_files import tokenizer_source

    return student.model_copy(update={"teacher_model": tokenizer_source(teacher)})


#: Student settings that do not change what a student learns: where it is pushed and
#: which trackers watch its training. Left out of its training fingerprint, so changing
#: them never trains a student again (nor re-runs the ablation of its twin).
NOT_LEARNED = frozenset({"push_to_hub", "report_to"})


def learned_settings(student: StudentConfig) -> dict[str, Any]:
    """The student's settings that decide its weights (all but :data:`NOT_LEARNED`)."""
    return student.model_dump(mode="json", exclude=set(NOT_LEARNED))


def training_fingerprint(student: StudentConfig, inputs: dict[str, Path]) -> str:
    """The fingerprint a trained student records: its learned settings and its data's content."""
    return fingerprint(learned_settings(student), inputs)


def train_or_reuse(student: StudentConfig, data: Path, folder: Path) -> dict[str, Any]:
    """The student's training record, training it first when settings or data changed.

    Args:
        student: The student's config.
        data: A dataset folder with ``train.jsonl`` (and ``held_out.jsonl``; with
            ``logprobs/`` for a kd student, fingerprinted too).
        folder: Where the student is saved.
    """
    from herdsman.train.student import read_outcome, train_student

    inputs = {s: data / f"{s}.jsonl" for s in ("train", "held_out")}
    if student.objective == "kd":
        inputs["logprobs"] = data / "logprobs" / "train.parquet"
    mark = training_fingerprint(student, inputs)
    try:
        done = read_outcome(folder)
    except HerdsmanError:
        done = {}
    if done.get("fingerprint") == mark:
        console.print(f"  {student.name}: up to date")
        return done
    outcome = train_student(student, data, folder, fingerprint=mark)
    console.print(
        f"  {student.name}: {outcome.steps} steps in {outcome.train_seconds:.0f}s, "
        f"final loss {outcome.final_loss}, held-out loss {outcome.held_out_loss}"
    )
    return read_outcome(folder)
