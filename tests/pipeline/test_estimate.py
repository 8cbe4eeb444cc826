"""Dry-run estimates: no model is loaded or converted, figures follow the config."""

from __future__ import annotations

from pathlib import Path

from herdsman.config import load_config
from herdsman.io.bundled import bundled_file
from herdsman.pipeline.context import Context
from herdsman.pipeline.estimate import estimate
from tests.conftest import run_cli


def test_local_dry_run_loads_no_model(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    config = tmp_path / "run.yaml"
    assert run_cli("init", str(config)).returncode == 0
    result = run_cli("run", str(config), "--dry-run", env={"HERDSMAN_CACHE": str(cache)})
    assert result.returncode == 0, result.stderr
    assert not cache.exists()  # the embedded teacher was neither converted nor loaded
    assert not (tmp_path / "run").exists()
    assert "~4 characters per token" in result.stderr
    assert "estimated teacher time" in result.stderr


def test_estimate_scales_with_the_config() -> None:
    small = load_config(bundled_file("demo.yaml"), {"run_dir": "/nonexistent-run"})
    big = load_config(
        bundled_file("demo.yaml"),
        {
            "run_dir": "/nonexistent-run",
            "generate": {"strategies": {"example": 80}, "max_calls": None},
        },
    )
    a = estimate(Context(loaded=small, run_dir=small.run_dir))
    b = estimate(Context(loaded=big, run_dir=big.run_dir))
    gen_a = {s.stage: s for s in a.stages}["generate (example)"]
    gen_b = {s.stage: s for s in b.stages}["generate (example)"]
    assert gen_b.calls > gen_a.calls
    cfg = big.config
    assert gen_b.completion_max == gen_b.calls * cfg.generate.sampling.max_tokens
    respond = {s.stage: s for s in b.stages}["respond"]
    topic = cfg.generate.strategies["topic"]
    assert respond.calls == 64 + 80 + topic  # originals + generated (the topic count stays)
    assert respond.completion_max == respond.calls * cfg.respond.sampling.max_tokens
    assert b.seconds_expected is not None and b.usd_expected is None
    # The demo selects its training data with the judge: one call per training pair.
    select = {s.stage: s for s in b.stages}["select (judge)"]
    assert select.calls == -(-respond.calls * (1 - cfg.dataset.held_out) // 1)
    assert select.completion_expected == select.calls  # one token per constrained grade
    off = load_config(
        bundled_file("demo.yaml"), {"run_dir": "/nonexistent-run", "select": {"enabled": False}}
    )
    assert "select (judge)" not in {s.stage for s in estimate(Context(off, off.run_dir)).stages}
