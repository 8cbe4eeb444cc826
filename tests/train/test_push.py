"""Pushing a trained student: only a student folder goes, and a hub out of reach is one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import constants

from herdsman.errors import HerdsmanError
from herdsman.train.push import push_student
from tests.helpers.hub_cache import closed_port


def test_a_folder_without_a_model_card_is_not_pushed(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(HerdsmanError, match="not a trained student"):
        push_student(tmp_path, "me/student", "hf_test")


def test_an_unreachable_hub_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    for name in ("config.json", "README.md"):
        (tmp_path / name).write_text("{}")
    with pytest.raises(HerdsmanError) as caught:
        push_student(tmp_path, "me/student", "hf_test")
    message = str(caught.value)
    assert message.startswith(f"pushing {tmp_path} to me/student: cannot reach {endpoint}")
    assert "\n" not in message
