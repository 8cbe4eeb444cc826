"""Atomic writes that survive a power cut: file fsynced, renamed, and its folder fsynced."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from herdsman.io.atomic import atomic_output, write_text_atomic


def trace_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record what each ``os.fsync`` made durable, by path, as the kernel names it."""
    events: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        events.append(os.path.realpath(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return events


def test_the_rename_is_made_durable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out" / "file.txt"
    events = trace_fsyncs(monkeypatch)
    write_text_atomic(target, "hello")
    assert target.read_text() == "hello"
    assert len(events) == 2 and events[0].startswith(str(target.parent / ".file.txt."))
    assert events[1] == str(target.parent)  # the folder, after the rename


def test_a_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(target) as out:
        out.write(b"half of the new")
        raise RuntimeError("the process dies here")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]
