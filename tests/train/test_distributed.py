"""The same training command under ``accelerate launch`` with 2 CPU processes (gloo DDP)."""

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
    return subprocess.run(
        [*launcher, "-m", "herdsman", "train", *args],
        capture_output=True, text=True, env=env, timeout=900, check=False,
    )  # fmt: skip


def test_two_processes_follow_the_single_process_loss_curve(tmp_path: Path) -> None:
    base = tiny_causal(tmp_path / "tiny")
    data = alpaca_dataset(tmp_path / "data", n=64, held_out=0.0)
    common = [
        "--base", str(base), "--data", str(data), "--epochs", "1", "--lr", "3e-3",
        "--batch-size", "8", "--per-device-batch-size", "4", "--max-length", "256",
    ]  # fmt: skip
    single = train([*common, "-o", str(tmp_path / "one")], [sys.executable])
    assert single.returncode == 0, single.stderr
    accelerate = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--cpu",
        "--num_processes",
        "2",
    ]
    double = train([*common, "-o", str(tmp_path / "two")], accelerate)
    assert double.returncode == 0, double.stderr[-3000:]
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
    assert (tmp_path / "two" / "model.safetensors").is_file()
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
