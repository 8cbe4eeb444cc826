"""Fixtures for every test: real public data (docs/testing.md), the loopback stub teacher, a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from herdsman.testing.stub_server import StubServer
from tests.helpers.data import public_data

DATA = public_data()

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Under `pytest -n 2` (make test) each worker gets one core's worth of threads,
    # and so do the CLI processes the tests start: two workers never fight over four.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")


def pytest_report_header() -> str:
    """Which BLAS kernel numpy runs: numeric results must hold under any of them."""
    import numpy as np  # noqa: F401  (loads the BLAS library the kernel is read from)
    import threadpoolctl

    kernels = sorted(
        {f"{i.get('internal_api')} {i.get('architecture')}" for i in threadpoolctl.threadpool_info()
         if i.get("user_api") == "blas"}
    )  # fmt: skip
    coretype = os.environ.get("OPENBLAS_CORETYPE", "unset")
    return f"BLAS: {', '.join(kernels) or 'none loaded yet'} (OPENBLAS_CORETYPE {coretype})"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow end-to-end tests first: the longest file starts at once on its own worker."""
    items.sort(key=lambda item: 0 if item.get_closest_marker("slow") else 1)


def require_data(*parts: str) -> Path:
    """Path under the public test data folder; the test fails loudly if it is missing."""
    path = DATA.joinpath(*parts)
    assert path.exists(), f"shared test data missing: {path}"
    return path


@pytest.fixture
def stub() -> Iterator[StubServer]:
    """A real OpenAI-compatible server on 127.0.0.1, no latency."""
    with StubServer() as server:
        yield server


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``herdsman ARGS`` in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "herdsman", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    """A user mistake: non-zero exit, one ``error:`` line naming the problem, no traceback."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
