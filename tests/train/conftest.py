"""Fixtures the training tests share: a work folder per module, a tiny causal model, Alpaca data."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.tiny_models import alpaca_dataset, tiny_causal


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """A folder of the module's own (named after it)."""
    return tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])


@pytest.fixture(scope="module")
def causal(work: Path) -> Path:
    """A tiny randomly initialised decoder-only model folder."""
    return tiny_causal(work / "tiny-llama")


@pytest.fixture(scope="module")
def dataset(work: Path) -> Path:
    """A herdsman dataset folder of real Alpaca pairs."""
    return alpaca_dataset(work / "dataset")
