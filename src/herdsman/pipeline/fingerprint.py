"""Content fingerprints of stage inputs, so a stage re-runs exactly when its inputs changed."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson

CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    """BLAKE2b of a file's bytes, or of every file under a folder (names and bytes, sorted)."""
    h = hashlib.blake2b(digest_size=16)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for item in files:
        if path.is_dir():
            h.update(str(item.relative_to(path)).encode() + b"\0")
        with item.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                h.update(chunk)
    return h.hexdigest()


def fingerprint(settings: Any, inputs: dict[str, Path]) -> str:
    """Hash of a stage's settings (JSON-able) and the contents of its input files."""
    payload = {
        "settings": settings,
        "inputs": {name: file_digest(path) for name, path in sorted(inputs.items())},
    }
    return hashlib.blake2b(
        orjson.dumps(payload, option=orjson.OPT_SORT_KEYS, default=str), digest_size=16
    ).hexdigest()
