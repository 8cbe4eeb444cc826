"""One rule for every command that writes: check its outputs against its inputs before any work.

A command describes what it reads (:class:`Input`) and what it writes
(:class:`Output`), each with its kind (a file or a folder), and calls
:func:`check_paths` before it reads anything. The rule refuses, in one line
naming both paths:

* an output that is an input: the same path, a symlink to it, a hard link to
  it (same device and inode), an output folder that holds an input it would
  rewrite, or an output file inside an input folder where that folder's
  command reads it;
* an output that is another output of the same command (the same ways);
* an output that exists as the other kind (a folder where a file is written,
  or a file where a folder is), or below a file;
* an output whose extension is not one its writer produces (``rate export -o
  x.jsonl`` writes CSV or JSON only);
* an output whose folder exists but cannot be written.

Nothing is written by the check, so a refused command leaves every file as it was.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from herdsman.errors import HerdsmanError

Kind = Literal["file", "folder"]

#: Extensions of the JSON Lines writers (``seeds``, ``generate``, ``respond``, ``quality``).
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jl")


class PathConflict(HerdsmanError):
    """An output that would destroy an input or another output, or cannot be written as asked."""


@dataclass(frozen=True)
class Input:
    """A path a command reads.

    Attributes:
        path: The file or folder.
        label: How the command line names it (``IN.jsonl``, ``--seeds``), for the message.
        kind: ``"file"``, ``"folder"``, or ``None`` when either is accepted.
        reads: For a folder: the paths inside it that are read (``fnmatch`` patterns
            relative to the folder; a pattern also covers everything below it).
            Empty: unknown, so only the folder itself is protected.
    """

    path: Path
    label: str = ""
    kind: Kind | None = None
    reads: tuple[str, ...] = ()


@dataclass(frozen=True)
class Output:
    """A path a command writes.

    Attributes:
        path: The file or folder.
        label: The option that names it (``-o``, ``--dropped``), for the message.
        kind: ``"file"`` or ``"folder"``.
        suffixes: Extensions the writer produces (lower case, with the dot; ``""`` for
            none); empty: any.
        writes: For a folder: the paths inside it that are (re)written, as for
            :attr:`Input.reads`; empty: anything below it.
    """

    path: Path
    label: str = "-o"
    kind: Kind = "file"
    suffixes: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()


def _name(label: str, path: Path) -> str:
    return f"{label} {path}" if label else str(path)


def _absolute(path: Path) -> Path:
    """The path with symlinks resolved as far as it exists (``..`` and ``~`` too)."""
    return Path(os.path.realpath(path.expanduser()))


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def _covered(rel: str, patterns: tuple[str, ...]) -> bool:
    """Whether ``rel`` (a path inside a folder) is one of ``patterns`` or below one."""
    if not patterns:
        return True
    for pattern in patterns:
        if fnmatch.fnmatchcase(rel, pattern) or rel.startswith(pattern.rstrip("/") + "/"):
            return True
        # Everything below a matched folder is covered too (``eval/*.json`` within ``eval/x``).
        parts = rel.split("/")
        if any(fnmatch.fnmatchcase("/".join(parts[:n]), pattern) for n in range(1, len(parts))):
            return True
    return False


def _contains(folder: Path, path: Path) -> str | None:
    """``path`` relative to ``folder`` (posix) when it lies below it, else ``None``."""
    try:
        rel = path.relative_to(folder)
    except ValueError:
        return None
    return rel.as_posix() if rel.parts else None


def _members(folder: Path, patterns: tuple[str, ...]) -> Iterator[Path]:
    """The existing files a folder side names (for hard-link checks), bounded."""
    if not patterns or not folder.is_dir():
        return
    for pattern in patterns:
        for n, found in enumerate(folder.glob(pattern)):
            if n >= 1000:
                break
            yield found


@dataclass(frozen=True)
class _Side:
    path: Path  # absolute, symlinks resolved
    given: Path  # as the command line gave it, for messages
    label: str
    kind: Kind | None
    patterns: tuple[str, ...]
    is_output: bool

    @property
    def shown(self) -> str:
        return _name(self.label, self.given)


def _side(item: Input | Output) -> _Side:
    if isinstance(item, Output):
        return _Side(_absolute(item.path), item.path, item.label, item.kind, item.writes, True)
    return _Side(_absolute(item.path), item.path, item.label, item.kind, item.reads, False)


def _clash(out: _Side, other: _Side) -> str | None:
    """Why writing ``out`` destroys ``other`` (an input, or another output), or ``None``."""
    if out.path == other.path:
        return "is the same path as" if out.given == other.given else "is a link to"
    ids_out, ids_other = _identity(out.path), _identity(other.path)
    if ids_out is not None and ids_out == ids_other:
        return "is the same file (a link) as"
    rel = _contains(out.path, other.path)
    if rel is not None and out.kind == "folder" and _covered(rel, out.patterns):
        return "is a folder it rewrites, which holds"
    rel = _contains(other.path, out.path)
    if rel is not None and other.kind != "file":
        if other.is_output and _covered(rel, other.patterns):
            return "lies inside the output folder"
        if not other.is_output and other.patterns and _covered(rel, other.patterns):
            return "is read from inside"
    # Hard links between a folder's named members and the other side.
    wanted = {
        i
        for p in (other.path, *_members(other.path, other.patterns))
        if (i := _identity(p)) is not None and Path(p).is_file()
    }
    if wanted:
        for member in [out.path, *_members(out.path, out.patterns)]:
            if member.is_file() and _identity(member) in wanted:
                return "would rewrite (through a link to it)"
    return None


def _check_output(out: Output) -> None:
    path = out.path
    shown = _name(out.label, path)
    if path.is_dir() and out.kind == "file":
        raise PathConflict(f"{shown}: is a folder; give a file name")
    if path.exists() and not path.is_dir() and out.kind == "folder":
        raise PathConflict(f"{shown}: is a file; give a folder (it is created if missing)")
    if out.suffixes:
        suffix = path.suffix.lower()
        if suffix not in out.suffixes:
            allowed = ", ".join(s or "no extension" for s in out.suffixes)
            raise PathConflict(
                f"{shown}: this command writes {allowed} files, not '{suffix or path.name}'"
            )
    existing = _absolute(path).parent if out.kind == "file" else _absolute(path)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise PathConflict(f"{shown}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PathConflict(f"{shown}: the folder {existing} is not writable (permission denied)")


def check_paths(inputs: Iterable[Input], outputs: Iterable[Output]) -> None:
    """Refuse a command whose outputs would destroy its inputs or each other (module docstring).

    Call it before any work: nothing is read or written here beyond ``stat``.

    Args:
        inputs: What the command reads; ``None`` paths (an option not given) are skipped.
        outputs: What it writes; ``None`` paths are skipped.

    Raises:
        PathConflict: One line naming the output and the path it clashes with.
    """
    ins = [i for i in inputs if i.path is not None]
    outs = [o for o in outputs if o.path is not None]
    in_sides = [_side(i) for i in ins]
    out_sides = [_side(o) for o in outs]
    for n, out in enumerate(out_sides):
        for other in in_sides:
            why = _clash(out, other)
            if why is not None:
                raise PathConflict(
                    f"{out.shown} {why} the input {other.shown}: it would be overwritten; "
                    "write somewhere else"
                )
        for other in out_sides[n + 1 :]:
            why = _clash(out, other) or _clash(other, out)
            if why is not None:
                raise PathConflict(
                    f"{out.shown} and {other.shown} are the same output: give two different paths"
                )
    for output in outs:
        _check_output(output)
