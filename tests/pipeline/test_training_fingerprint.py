"""Pushing and tracking do not change a student: neither retrains it nor re-runs its ablation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from herdsman.config import StudentConfig, load_config
from herdsman.errors import HerdsmanError
from herdsman.io.bundled import bundled_file
from herdsman.pipeline.context import Context
from herdsman.pipeline.stages import ablate
from herdsman.pipeline.training import train_or_reuse, training_fingerprint
from herdsman.train.student import TRAIN_RECORD


def trained(tmp_path: Path, student: StudentConfig) -> tuple[Path, Path]:
    """A dataset folder and a student folder whose record carries the student's fingerprint.

    The base does not exist: training it again would fail at once.
    """
    data = tmp_path / "dataset"
    data.mkdir()
    for split in ("train", "held_out"):
        (data / f"{split}.jsonl").write_text(
            json.dumps({"instruction": f"Say {split}.", "response": "Done."}) + "\n"
        )
    inputs = {s: data / f"{s}.jsonl" for s in ("train", "held_out")}
    folder = tmp_path / "students" / student.name
    folder.mkdir(parents=True)
    record = {
        "name": student.name,
        "steps": 7,
        "fingerprint": training_fingerprint(student, inputs),
    }
    (folder / TRAIN_RECORD).write_text(json.dumps(record))
    return data, folder


def test_pushing_or_tracking_a_trained_student_does_not_train_it_again(tmp_path: Path) -> None:
    student = StudentConfig(name="s", base=str(tmp_path / "no-such-base"))
    data, folder = trained(tmp_path, student)
    for change in (
        {"push_to_hub": "acme/s"},
        {"report_to": ["tensorboard"]},
        {"push_to_hub": "acme/other", "report_to": ["tensorboard"]},
    ):
        changed = StudentConfig.model_validate({**student.model_dump(), **change})
        assert train_or_reuse(changed, data, folder)["steps"] == 7  # up to date, not retrained
    # A setting that changes what it learns does train it again (here: fails on the base).
    with pytest.raises(HerdsmanError, match="no-such-base"):
        train_or_reuse(student.model_copy(update={"learning_rate": 1e-3}), data, folder)


def ablation_context(tmp_path: Path, compare: str, **student: object) -> Context:
    students = [
        {
            "name": "first",
            "base": "smollm2-135m-instruct",
            "objective": "kd" if compare == "objective" else "sft",
            **student,
        },
        {"name": "other", "base": "smollm2-135m-instruct"},
    ]
    loaded = load_config(
        bundled_file("demo.yaml"),
        {
            "run_dir": str(tmp_path / "run"),
            "students": students,
            "ablation": {"enabled": True, "student": "first", "compare": compare},
        },
    )
    return Context(loaded, loaded.run_dir)


@pytest.mark.parametrize("compare", ["selection", "objective"])
def test_the_ablation_ignores_pushing_and_tracking_and_never_pushes_its_twin(
    tmp_path: Path, compare: str
) -> None:
    plain = ablation_context(tmp_path, compare)
    pushed = ablation_context(
        tmp_path, compare, push_to_hub="acme/first", report_to=["tensorboard"]
    )
    assert ablate.ablation_student(pushed).push_to_hub == "acme/first"
    assert ablate.STAGE.settings(pushed) == ablate.STAGE.settings(plain)
    twin = ablate._second_arm(pushed)
    assert twin.push_to_hub is None and twin.name != "first"
    assert twin.report_to == ["tensorboard"]  # its training is tracked like the student's
    # What does change the twin still re-runs the stage.
    slower = ablation_context(tmp_path, compare, learning_rate=1e-5)
    assert ablate.STAGE.settings(slower) != ablate.STAGE.settings(plain)
