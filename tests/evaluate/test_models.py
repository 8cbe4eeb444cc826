"""Which models an evaluation covers, and the bad model folders it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from herdsman.errors import HerdsmanError
from herdsman.evaluate.models import collect_models, model_from_dir
from tests.evaluate.models_fixture import tiny_student
from tests.helpers.tiny_models import tiny_causal


def test_student_record_gives_wrapper_and_base(tmp_path: Path) -> None:
    student = tiny_student(tmp_path)
    models = collect_models([student])
    assert [(m.name, m.role, m.wrapper) for m in models] == [
        ("tiny-student", "student", "alpaca"),
        ("tiny-base (base)", "base", "alpaca"),
    ]
    assert models[1].base_of == "tiny-student"
    assert collect_models([student], with_bases=False) == models[:1]


def test_shared_base_is_evaluated_once(tmp_path: Path) -> None:
    one = tiny_student(tmp_path, "one")
    two = tiny_student(tmp_path, "two")
    names = [m.name for m in collect_models([one, two])]
    assert names == ["one", "two", "tiny-base (base)"]


def test_plain_model_folder(tmp_path: Path) -> None:
    folder = tiny_causal(tmp_path / "plain")
    model = model_from_dir(folder)
    assert (model.role, model.wrapper, model.architecture) == ("model", "none", "causal")


def test_bad_folders(tmp_path: Path) -> None:
    with pytest.raises(HerdsmanError, match="no such model folder"):
        model_from_dir(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(HerdsmanError, match="not a folder"):
        model_from_dir(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(HerdsmanError, match="not a Hugging Face model folder"):
        model_from_dir(tmp_path / "empty")
    student = tiny_student(tmp_path)
    with pytest.raises(HerdsmanError, match="both named"):
        collect_models([student, student])
