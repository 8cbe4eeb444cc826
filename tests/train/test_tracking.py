"""Experiment tracking: ``report_to`` reaches the trainer; TensorBoard writes under ``OUT/logs/``."""

from __future__ import annotations

from pathlib import Path

import pytest

from herdsman.config import StudentConfig, load_config
from herdsman.errors import InputError
from tests.conftest import assert_one_line_error, run_cli


def _scalars(logs: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the event files under ``logs`` (tag -> (step, value) list)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    found: dict[str, list[tuple[int, float]]] = {}
    for events in sorted(logs.rglob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            found.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
    return found


def test_tensorboard_logs_the_loss_under_the_student_folder(
    causal: Path, dataset: Path, work: Path
) -> None:
    out = work / "students" / "tracked"
    stale = out / "logs" / "events.out.tfevents.0.earlier-training"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"")  # a fresh training starts its curves anew
    result = run_cli(
        "train", "--base", str(causal), "--data", str(dataset), "-o", str(out),
        "--batch-size", "8", "--per-device-batch-size", "4", "--max-length", "256",
        "--max-steps", "3", "--report-to", "tensorboard",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert list((out / "logs").glob("events.out.tfevents.*")), sorted(out.rglob("*"))
    assert not stale.exists()
    scalars = _scalars(out / "logs")
    losses = scalars["train/loss"]
    assert [step for step, _ in losses] == [1, 2, 3]  # logging_first_step, then every step
    assert all(value > 0 for _, value in losses)
    assert "train/learning_rate" in scalars
    # Nothing went to transformers' default folder (under the removed checkpoints) or cwd.
    assert not list(out.rglob("runs"))
    assert not list(Path.cwd().glob("runs/*"))


def test_no_tracker_by_default_writes_no_events(causal: Path, dataset: Path, work: Path) -> None:
    from herdsman.train.student import train_student

    out = work / "students" / "quiet"
    student = StudentConfig(
        name="quiet", base=str(causal), batch_size=8, per_device_batch_size=4, max_length=256,
        max_steps=2,
    )  # fmt: skip
    assert student.report_to == []
    train_student(student, dataset, out)
    assert (out / "herdsman-train.json").is_file()
    assert not list(out.rglob("events.out.tfevents.*"))
    assert not (out / "logs").exists()


def test_unknown_tracker_is_refused_naming_the_field(tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(
        "seeds:\n  - path: bundled:seed_tasks.jsonl\n"
        "students:\n  - name: s\n    base: t5-scratch\n    report_to: [tensorboard, neptune]\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as caught:
        load_config(config)
    message = str(caught.value)
    assert "run.yaml:6" in message and "students[0].report_to" in message
    assert "unknown tracker 'neptune'" in message and "wandb" in message
    shown = run_cli("train", "--help", env={"COLUMNS": "200"})
    assert "--report-to" in shown.stdout and "tensorboard, wandb, mlflow, trackio" in shown.stdout
    result = run_cli("train", "--base", "t5-scratch", "--data", "x", "-o", "y", "--report-to", "x")
    assert_one_line_error(result, "--report-to", "unknown tracker 'x'")
    assert result.returncode == 2


def test_missing_tracker_package_names_what_to_install(tmp_path: Path) -> None:
    import importlib.util

    missing = [t for t in ("wandb", "mlflow", "trackio") if importlib.util.find_spec(t) is None]
    if not missing:
        pytest.skip("every optional tracker is installed here")
    tracker = missing[0]
    result = run_cli(
        "train", "--base", "t5-scratch", "--data", "x", "-o", "y", "--report-to", tracker
    )
    assert_one_line_error(result, "--report-to", f"pip install {tracker}")
    with pytest.raises(ValueError, match=f"tracker '{tracker}' needs its package"):
        StudentConfig(name="s", base="t5-scratch", report_to=[tracker])
