"""A tiny trained-student folder (a real model with a herdsman-train.json) for evaluation tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.helpers.tiny_models import tiny_causal, tiny_t5


def tiny_student(root: Path, name: str = "tiny-student", wrapper: str = "alpaca") -> Path:
    """A student folder whose base is another tiny model folder (so bases resolve offline)."""
    base = tiny_causal(root / "tiny-base", initializer_range=0.2)
    folder = root / name
    if not folder.is_dir():
        shutil.copytree(base, folder)
        record = {"name": name, "base": str(base), "architecture": "causal", "wrapper": wrapper}
        (folder / "herdsman-train.json").write_text(json.dumps(record))
    return folder


def tiny_seq2seq_student(root: Path) -> Path:
    """A T5 student (raw instructions, no wrapper)."""
    base = tiny_t5(root / "tiny-t5-base")
    folder = root / "tiny-t5"
    if not folder.is_dir():
        shutil.copytree(base, folder)
        record = {
            "name": "tiny-t5",
            "base": str(base),
            "architecture": "seq2seq",
            "wrapper": "none",
        }
        (folder / "herdsman-train.json").write_text(json.dumps(record))
    return folder
