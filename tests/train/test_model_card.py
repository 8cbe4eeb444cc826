"""The student's model card names its base on the hub (``base_model``) when the base has a hub id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from herdsman.config import StudentConfig
from herdsman.io.model_refs import resolve_model_ref
from herdsman.train.bases import StudentBase
from herdsman.train.data import TrainingData
from herdsman.train.model_card import render_model_card
from herdsman.train.plan import TrainPlan
from herdsman.train.student import TrainOutcome
from tests.helpers.hub_cache import empty_offline_hub, fake_hub_cache


def front_matter(base: StudentBase, tmp_path: Path, init: dict[str, Any] | None = None) -> Any:
    """The YAML front matter of the card of a student trained from ``base``."""
    student = StudentConfig(name="s", base=base.name)
    outcome = TrainOutcome(
        name="s", base=base.name, architecture="causal", method="full", wrapper="alpaca",
        parameters=1000, examples=8, held_out_examples=2, steps=3, train_seconds=1.0,
        real_tokens=100, tokens_per_second=100.0, final_loss=1.5, held_out_loss=1.7,
        resumed_from=None, output=str(tmp_path / "s"), loss_curve=[(1, 2.0), (3, 1.5)],
        init=init,
    )  # fmt: skip
    plan = TrainPlan(base, "alpaca", TrainingData([], []), tmp_path / "s", 1, 3, 3)
    card = render_model_card(student, outcome, tmp_path / "dataset", plan)
    head, rest = card.split("---\n", 2)[1:]
    assert "# s" in rest
    return yaml.safe_load(head)


def test_a_cached_hub_base_is_named_in_the_front_matter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = empty_offline_hub(tmp_path, monkeypatch)
    fake_hub_cache(hub, "acme/tiny-base")
    ref = resolve_model_ref("acme/tiny-base", tmp_path)
    assert ref.path is not None
    meta = front_matter(StudentBase(ref.path, "causal", "acme/tiny-base"), tmp_path)
    assert meta["base_model"] == "acme/tiny-base"
    assert meta["library_name"] == "transformers" and "herdsman" in meta["tags"]


def test_embedded_aliases_name_their_source_and_folders_name_nothing(tmp_path: Path) -> None:
    alias = front_matter(StudentBase(tmp_path / "x", "causal", "smollm2-135m-instruct"), tmp_path)
    assert alias["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    folder = tmp_path / "models" / "mine"
    folder.mkdir(parents=True)
    local = front_matter(StudentBase(folder, "causal", str(folder)), tmp_path)
    assert "base_model" not in local
    scratch = StudentBase(tmp_path / "t5", "causal", "t5-scratch", from_scratch=True)
    assert "base_model" not in front_matter(scratch, tmp_path)


def test_a_pruned_student_names_the_model_it_was_cut_from(tmp_path: Path) -> None:
    init = tmp_path / "s" / "init"
    cut = StudentBase(init, "causal", str(init))
    pruned = {"kind": "prune", "from": "gemma-3-270m", "kept_layers": [0, 2], "num_layers": 4}
    assert front_matter(cut, tmp_path, pruned)["base_model"] == "google/gemma-3-270m"
    from_folder = {**pruned, "from": str(tmp_path / "teacher")}
    assert "base_model" not in front_matter(cut, tmp_path, from_folder)
