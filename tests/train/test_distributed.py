"""The same training command under ``torchrun`` with 2 CPU processes (gloo DDP).

``accelerate launch --cpu --num_processes 2`` is not used: accelerate runs it
as one process (no ``RANK`` or ``WORLD_SIZE``), which would pass without
testing anything distributed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.tiny_models import alpaca_dataset, tiny_causal

pytestmark = pytest.mark.slow


def train(args: list[str], launcher: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return subprocess.run(
        [*launcher, "-m", "herdsman", "train", *args],
        capture_output=True, text=True, env=env, timeout=900, check=False,
    )  # fmt: skip


def test_two_processes_follow_the_single_process_loss_curve(tmp_path: Path) -> None:
    base = tiny_causal(tmp_path / "tiny")
    data = alpaca_dataset(tmp_path / "data", n=64, held_out=0.0)
    # Three steps stop before the epoch's last, partial one, which the two runs split
    # differently (DistributedSampler repeats rows to even out the processes' shares).
    common = [
        "--base", str(base), "--data", str(data), "--epochs", "1", "--max-steps", "3",
        "--lr", "3e-3", "--batch-size", "8", "--per-device-batch-size", "4", "--max-length", "256",
    ]  # fmt: skip
    single = train([*common, "-o", str(tmp_path / "one")], [sys.executable])
    assert single.returncode == 0, single.stderr
    logs = tmp_path / "ranks"
    torchrun = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "--log-dir", str(logs), "--redirects", "3",
    ]  # fmt: skip
    double = train([*common, "-o", str(tmp_path / "two")], torchrun)
    assert double.returncode == 0, double.stderr[-3000:]
    # Two workers ran: torchrun kept a log folder for each rank, and the first saw
    # WORLD_SIZE=2 (gradient accumulation halves: 8 = 4 per device x 1 x 2 processes).
    ranks = {p.name: p for p in logs.glob("*/attempt_0/*") if p.is_dir()}
    assert set(ranks) == {"0", "1"}, sorted(logs.rglob("*"))
    one_card = (tmp_path / "one" / "README.md").read_text()
    two_card = (tmp_path / "two" / "README.md").read_text()
    assert "| effective batch | 8 (4 per device x 2 accumulation) |" in one_card
    assert "| effective batch | 8 (4 per device x 1 accumulation) |" in two_card
    # Only the first process reports and writes the student's files, once.
    rank_out = {
        r: (p / "stdout.log").read_text() + (p / "stderr.log").read_text() for r, p in ranks.items()
    }
    assert rank_out["0"].count("student saved to") == 1
    assert "student saved to" not in rank_out["1"]
    saved = sorted(p.name for p in (tmp_path / "two").iterdir())
    assert [n for n in saved if n.endswith(".safetensors")] == ["model.safetensors"]
    assert not [n for n in saved if n.startswith(".")]  # no checkpoints, no half-written copy
    one = json.loads((tmp_path / "one" / "herdsman-train.json").read_text())
    two = json.loads((tmp_path / "two" / "herdsman-train.json").read_text())
    # Same effective batch (gradient accumulation halves with 2 processes): same steps.
    assert one["steps"] == two["steps"]
    curve_one = dict(map(tuple, one["loss_curve"]))
    curve_two = dict(map(tuple, two["loss_curve"]))
    shared = sorted(set(curve_one) & set(curve_two))
    assert len(shared) >= 3
    for step in shared:
        assert abs(curve_one[step] - curve_two[step]) / curve_one[step] < 0.05, (
            step,
            curve_one,
            curve_two,
        )
    # The saved student is whole (saved through the trainer on every process) and
    # computes what the single-process one computes.
    import torch
    from transformers import AutoModelForCausalLM

    models = [AutoModelForCausalLM.from_pretrained(tmp_path / n) for n in ("one", "two")]
    counted = sum(p.numel() for p in models[0].parameters())
    assert one["parameters"] == two["parameters"]
    assert abs(one["parameters"] - counted) <= models[0].get_input_embeddings().weight.numel()
    ids = torch.tensor([[1, 345, 2000, 77, 9, 4021, 13]])
    with torch.no_grad():
        logits = [m(ids).logits for m in models]
        base = AutoModelForCausalLM.from_pretrained(base)(ids).logits
    assert torch.allclose(logits[0], logits[1], rtol=0.05, atol=0.05)
    assert not torch.allclose(logits[1], base, rtol=0.05, atol=0.05)  # it did train
