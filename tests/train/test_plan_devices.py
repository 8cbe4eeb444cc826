"""One training process sees one GPU: several would silently multiply the effective batch."""

from __future__ import annotations

from pathlib import Path

import pytest

from herdsman.errors import HerdsmanError
from herdsman.train.plan import check_devices


@pytest.mark.parametrize(("world", "gpus"), [(1, 0), (1, 1), (2, 2), (8, 8), (2, 1)])
def test_one_device_per_process_is_accepted(world: int, gpus: int) -> None:
    check_devices(world, gpus)


@pytest.mark.parametrize("gpus", [2, 8])
def test_one_process_with_several_gpus_is_refused_with_both_ways_out(gpus: int) -> None:
    with pytest.raises(HerdsmanError) as caught:
        check_devices(1, gpus)
    message = str(caught.value)
    assert "\n" not in message and f"{gpus} GPUs are visible" in message
    assert "CUDA_VISIBLE_DEVICES=0" in message
    assert f"torchrun --nproc_per_node {gpus} -m herdsman train" in message


def test_transformers_multiplies_the_batch_by_its_gpu_count(tmp_path: Path) -> None:
    """What the refusal guards against: the trainer's micro-batch is per device times ``n_gpu``."""
    from transformers import TrainingArguments

    args = TrainingArguments(str(tmp_path), per_device_train_batch_size=4, use_cpu=True)
    assert args.n_gpu == 0 and args.train_batch_size == 4
    args._n_gpu = 3  # what a single process that sees three GPUs gets
    assert args.train_batch_size == 12
