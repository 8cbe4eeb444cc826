"""One writer per run folder: a second run on the same folder stops at once and says who holds it.

Two runs over the same run store would both see a call as not done and both
pay for it. The lock is ``flock`` on ``FOLDER/.herdsman/lock``: the kernel
drops it when its holder exits, however it exits (``kill -9`` included), so a
crash never leaves a stale lock behind. The file records who holds it, for
the message the second run prints. The lock file sits beside the run store
(``store.sqlite.lock``), so ``herdsman run`` and a command given the same
store with ``--store`` exclude each other too.
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from herdsman.errors import HerdsmanError


def lock_path(store: str | Path) -> Path:
    """The lock file of a run store."""
    store = Path(store)
    return store.with_name(store.name + ".lock")


@contextmanager
def run_lock(store: str | Path) -> Iterator[Path]:
    """Hold the lock of the run store ``store`` for the block.

    Args:
        store: The run store's path (``RUN_DIR/.herdsman/store.sqlite``).

    Raises:
        HerdsmanError: Another process holds it (its pid, host, command and start time).
    """
    path = lock_path(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = path.parent.parent if path.parent.name == ".herdsman" else path.parent
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
            raise HerdsmanError(
                f"{folder} is in use by {holder}; wait for it to finish (two runs on one "
                "folder would pay for the same teacher calls twice)"
            ) from None
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
        command = " ".join(["herdsman", *sys.argv[1:]])
        who = f"pid {os.getpid()} on {socket.gethostname()} ({command[:120]}, since {started})"
        os.ftruncate(fd, 0)
        os.pwrite(fd, who.encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock
