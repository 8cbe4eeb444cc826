"""Reading and writing JSON Lines with line-numbered errors and atomic output.

A malformed line is an :class:`~herdsman.errors.InputError` naming the file and
line; with ``skip_bad`` it is counted in a :class:`BadLines` and skipped.
Output files are written to a temporary file beside the target and renamed
into place, so a crash never leaves a half-written file under the real name.

orjson does the parsing and encoding (several times faster than the standard
library, which matters at millions of lines); a line orjson refuses is retried
with :mod:`json`, which also accepts ``NaN`` and integers beyond 64 bits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from pydantic import BaseModel

from herdsman.errors import InputError
from herdsman.io.atomic import atomic_output

#: The largest record (one JSONL line, in bytes) that near-duplicate removal compares:
#: comparing texts costs memory in proportion to their length, and no instruction is
#: this long (what one huge line cost before this limit is in docs/benchmarks.md).
MAX_RECORD_BYTES = 1 << 20

_SCAN_CHUNK = 1 << 20


def refuse_long_lines(path: str | Path, limit: int = MAX_RECORD_BYTES) -> None:
    """Refuse a JSONL file with a line over ``limit`` bytes, before it is parsed.

    The scan reads fixed-size chunks, so its memory does not depend on the line's length.

    Raises:
        InputError: The first line over the limit (its number and size), or an unreadable file.
    """
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(str(path), None, f"cannot read ({exc.strerror or exc})") from None
    line_no, length = 1, 0
    with handle:
        while chunk := handle.read(_SCAN_CHUNK):
            start = 0
            while (end := chunk.find(b"\n", start)) != -1:
                length += end - start
                if length > limit:
                    break
                line_no, length, start = line_no + 1, 0, end + 1
            else:
                length += len(chunk) - start
            if length > limit:
                raise InputError(
                    str(path),
                    line_no,
                    f"record longer than {limit:,} bytes (the largest one compared; "
                    "split or shorten it)",
                )


@dataclass
class BadLines:
    """Counts lines skipped under ``--skip-bad`` and keeps the first few reasons."""

    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, error: InputError) -> None:
        """Record one skipped line."""
        self.count += 1
        if len(self.examples) < 5:
            self.examples.append(str(error))


def iter_json_objects(
    path: str | Path, *, skip_bad: bool = False, bad: BadLines | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line of a JSONL file.

    Args:
        path: The JSONL file.
        skip_bad: Skip malformed lines (counted in ``bad``) instead of raising.
        bad: Collects skipped lines.

    Raises:
        InputError: On a malformed line (unless ``skip_bad``) or an unreadable file.
    """
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(str(path), None, f"cannot read ({exc.strerror or exc})") from None
    with handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = loads_line(line)
            except InputError as exc:
                err = InputError(str(path), line_no, exc.reason)
                if not skip_bad:
                    raise err from None
                if bad is not None:
                    bad.add(err)
                continue
            if not isinstance(obj, dict):
                err = InputError(str(path), line_no, "expected a JSON object")
                if not skip_bad:
                    raise err
                if bad is not None:
                    bad.add(err)
                continue
            yield line_no, obj


_JSON_NAMES = {str: "a string", type(None): "null", bool: "true or false", int: "a number",
               float: "a number", list: "a list", dict: "an object"}  # fmt: skip


def json_type(value: Any) -> str:
    """How a JSON value's type is called in messages (``a number``, ``a list``)."""
    return _JSON_NAMES.get(type(value), type(value).__name__)


def check_types(
    row: dict[str, Any],
    types: dict[str, tuple[type, ...]],
    path: str | Path,
    line: int | None,
    required: tuple[str, ...] = (),
) -> None:
    """Refuse a record whose fields have the wrong JSON type (one reader rule for every stage).

    Args:
        row: The record.
        types: Field -> the types it may have; a field that is absent counts as ``None``
            (so include ``type(None)`` for an optional field).
        path: The file, for the message.
        line: Its line.
        required: Fields that must be present.

    Raises:
        InputError: Naming the file, line, field, the types wanted and the type found.
    """
    for name in required:
        if name not in row:
            raise InputError(str(path), line, f"missing field '{name}'")
    for name, allowed in types.items():
        value = row.get(name)
        # bool is an int to Python but not a number in a JSON record.
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            want = " or ".join(dict.fromkeys(_JSON_NAMES.get(t, t.__name__) for t in allowed))
            raise InputError(
                str(path), line, f"field '{name}': expected {want}, found {json_type(value)}"
            )


def loads_line(line: bytes) -> Any:
    """Parse one JSON line (orjson, falling back to :mod:`json`).

    Raises:
        InputError: Without a path; the caller adds where it happened.
    """
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        pass
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("", None, "not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError("", None, f"invalid JSON ({exc.msg} at column {exc.colno})") from None


def dumps_line(row: dict[str, Any] | BaseModel) -> bytes:
    """One JSONL line (UTF-8, newline-terminated); models are dumped without ``None`` fields."""
    data = row.model_dump(mode="json", exclude_none=True) if isinstance(row, BaseModel) else row
    return orjson.dumps(data) + b"\n"


@contextmanager
def append_jsonl(path: str | Path) -> Iterator[BinaryIO]:
    """Open a JSONL cache for appending, on a fresh line.

    A crash in the middle of a write leaves a cut last line; appending to it
    would glue the next record onto the fragment and lose both. Readers skip
    the fragment (``skip_bad``); this makes sure new records start after it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        if handle.tell():
            with path.open("rb") as tail:
                tail.seek(-1, 2)
                if tail.read(1) != b"\n":
                    handle.write(b"\n")
        yield handle


def write_jsonl_atomic(path: str | Path, rows: Iterable[dict[str, Any] | BaseModel]) -> int:
    """Write rows as JSONL to ``path`` atomically (see :func:`atomic_output`).

    Args:
        path: Target file; its folder is created if needed.
        rows: Dicts or pydantic models (dumped without ``None`` fields).

    Returns:
        The number of rows written.
    """
    count = 0
    with atomic_output(path) as out:
        for row in rows:
            out.write(dumps_line(row))
            count += 1
    return count
