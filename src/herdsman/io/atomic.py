"""Atomic, durable file output: a crash never leaves a half-written file under the real name.

A file is written under a temporary name beside its target, fsynced, renamed
over the target, and then its folder is fsynced: without that last step a
power cut can lose the rename itself (the directory entry), leaving the old
file or none at all although the write "succeeded".
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Files and folders made through a temporary name get the modes a plain
#: ``open()``/``mkdir()`` would give them, not mkstemp's private 0600/0700.
FILE_MODE = 0o666 & ~_current_umask()
DIR_MODE = 0o777 & ~_current_umask()


def fsync_dir(folder: str | Path) -> None:
    """Make a folder's entries (renames, new files) durable across a power cut."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: str | Path) -> None:
    """fsync every file and folder below ``folder`` (before it is renamed into place)."""
    for root, _dirs, files in os.walk(folder):
        for name in files:
            fd = os.open(Path(root) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(root)


@contextmanager
def atomic_output(path: str | Path) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces ``path`` only if the block completes.

    It is a temporary file beside the target, flushed and fsynced, then
    renamed over it, and the folder is fsynced so the rename survives a power
    cut; on any error it is removed and the old file stays.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, path)
        fsync_dir(path.parent)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a text file atomically (see :func:`atomic_output`)."""
    with atomic_output(path) as out:
        out.write(text.encode("utf-8"))
