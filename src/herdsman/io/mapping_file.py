"""Reading a small YAML or JSON file that must hold one mapping (templates, price tables)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from herdsman.errors import InputError


def read_mapping(path: str | Path, what: str, shape: str) -> tuple[dict[str, Any], str]:
    """Parse ``path`` (JSON by suffix, else YAML) and return ``(mapping, raw text)``.

    Args:
        path: The file.
        what: What the file is, for errors ("template", "price table").
        shape: What the mapping must hold, for the error when it is not one.

    Raises:
        InputError: Unreadable, unparseable, or not a mapping.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise InputError(str(path), None, f"cannot read {what} ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(str(path), None, f"{what} must be a mapping {shape}")
    return data, text
