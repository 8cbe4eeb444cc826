"""objective: gkd: TRL's on-policy DistillationTrainer with a teacher beside the student; refusals."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from herdsman.config import StudentConfig
from herdsman.errors import HerdsmanError
from herdsman.train.student import train_student
from tests.helpers.tiny_models import alpaca_dataset, tiny_causal, tiny_t5
from tests.helpers.tiny_models import tokenizer as smol_tokenizer


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gkd")


@pytest.fixture(scope="module")
def dataset(work: Path) -> Path:
    return alpaca_dataset(work / "dataset", n=16)


def _student(base: Path, **kw: Any) -> StudentConfig:
    defaults = dict(
        name="gkd",
        base=str(base),
        objective="gkd",
        batch_size=2,
        per_device_batch_size=2,
        max_length=160,
        max_steps=2,
        learning_rate=1e-3,
        kd_temperature=0.9,
    )
    return StudentConfig(**(defaults | kw))


def test_gkd_student_trains_and_loads(dataset: Path, work: Path) -> None:
    from transformers import AutoModelForCausalLM

    student = tiny_causal(work / "student", seed=0)
    teacher = tiny_causal(work / "teacher", seed=1, initializer_range=0.2)
    out = work / "students" / "gkd"
    outcome = train_student(_student(student, teacher_model=str(teacher)), dataset, out)
    assert outcome.steps == 2 and outcome.objective == "gkd"
    assert outcome.loss_curve and all(math.isfinite(v) for _, v in outcome.loss_curve)
    record = json.loads((out / "herdsman-train.json").read_text())
    assert record["objective"] == "gkd" and record["held_out_loss"] is None
    model = AutoModelForCausalLM.from_pretrained(out)
    assert record["parameters"] == sum(p.numel() for p in model.parameters())
    assert f"on-policy distillation from `{teacher}`" in (out / "README.md").read_text()


def test_gkd_refusals(dataset: Path, work: Path, tmp_path: Path) -> None:
    student = tiny_causal(work / "student", seed=0)

    def refused(cfg: StudentConfig) -> str:
        with pytest.raises(HerdsmanError) as caught:
            train_student(cfg, dataset, tmp_path / "out")
        message = str(caught.value)
        assert "\n" not in message
        return message

    assert "needs teacher_model" in refused(_student(student))
    assert "not a local folder" in refused(_student(student, teacher_model=str(tmp_path / "nope")))

    other = tmp_path / "other-teacher"
    tiny_causal(other, seed=1)
    tok = smol_tokenizer()
    tok.add_tokens(["<herdsman-extra>"])  # one token more: another vocabulary
    tok.save_pretrained(other)
    message = refused(_student(student, teacher_model=str(other)))
    assert str(student) in message and str(other) in message and "different tokenizers" in message

    t5 = tiny_t5(work / "t5")
    message = refused(_student(t5, teacher_model=str(student)))
    assert "decoder-only" in message and str(t5) in message
