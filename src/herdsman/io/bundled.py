"""Data files shipped inside the package: the demo's seeds, topics, category dump and offline eval items."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from herdsman.errors import HerdsmanError


def data_dir() -> Path:
    """The package's ``data`` folder."""
    return Path(str(resources.files("herdsman") / "data"))


def bundled_file(name: str) -> Path:
    """Path of a data file shipped in the package, confined to its ``data`` folder.

    Args:
        name: A path relative to the data folder (``demo.yaml``, ``eval``).

    Raises:
        HerdsmanError: The name leaves the data folder (``../``, an absolute path).
    """
    root = data_dir().resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or Path(name).is_absolute():
        raise HerdsmanError(f"bundled:{name}: not a file shipped with herdsman")
    return path
