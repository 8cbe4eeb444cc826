"""A real local Hugging Face cache in a test folder, and a loopback port nothing listens on.

The cache has the layout huggingface_hub writes (``models--owner--name/refs/main``
naming a ``snapshots/<sha>/`` folder whose files link to the model's files),
filled with an embedded model, so hub ids resolve from it with no network.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from huggingface_hub import constants

from herdsman.embedded import EMBEDDED_MODELS, converted_folder

SNAPSHOT = "0123456789abcdef0123456789abcdef01234567"


def fake_hub_cache(hub: Path, repo_id: str, alias: str | None = None) -> Path:
    """Put ``repo_id`` into the hub cache folder ``hub``; returns its snapshot folder."""
    model = converted_folder(alias or next(iter(EMBEDDED_MODELS)))
    repo = hub / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / SNAPSHOT
    snapshot.mkdir(parents=True)
    for file in model.iterdir():
        (snapshot / file.name).symlink_to(file)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(SNAPSHOT)
    return snapshot


def hub_env(home: Path) -> dict[str, str]:
    """The environment of a command that uses ``home/hub`` as its Hugging Face cache."""
    return {"HF_HOME": str(home), "HF_HUB_CACHE": str(home / "hub")}


def closed_port() -> int:
    """A loopback port nothing listens on (connections to it are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def empty_offline_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make ``tmp_path/hf/hub`` this process's (empty) hub cache, offline; returns it."""
    hub = tmp_path / "hf" / "hub"
    hub.mkdir(parents=True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return hub
