"""Reading and writing JSON Lines with line-numbered errors and atomic output.

A malformed line is an :class:`~herdsman.errors.InputError` naming the file and
line; with ``skip_bad`` it is counted in a :class:`BadLines` and skipped.
Output files are written to a temporary file beside the target and renamed
into place, so a crash never leaves a half-written file under the real name.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from herdsman.errors import InputError

M = TypeVar("M", bound=BaseModel)


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


def describe_validation_error(error: ValidationError) -> str:
    """Turn a pydantic error into one short line that names the field."""
    first = error.errors()[0]
    loc = ".".join(str(part) for part in first["loc"]) or "record"
    msg = first["msg"]
    if first["type"] == "missing":
        return f"missing field '{loc}'"
    return f"field '{loc}': {msg}"


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
        handle = path.open("r", encoding="utf-8")
    except OSError as exc:
        raise InputError(str(path), None, f"cannot read ({exc.strerror or exc})") from None
    with handle:
        line_no = 0
        while True:
            try:
                line = handle.readline()
            except UnicodeDecodeError:
                raise InputError(str(path), line_no + 1, "not UTF-8 text") from None
            if not line:
                return
            line_no += 1
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                err = InputError(str(path), line_no, f"invalid JSON ({exc.msg} at column {exc.colno})")
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


def validate_record(model: type[M], obj: dict[str, Any], path: str | Path, line: int) -> M:
    """Validate ``obj`` as ``model``, raising a one-line :class:`InputError` on failure."""
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        raise InputError(str(path), line, describe_validation_error(exc)) from None


def write_jsonl_atomic(path: str | Path, rows: Iterable[dict[str, Any] | BaseModel]) -> int:
    """Write rows as JSONL to ``path`` atomically (temp file, fsync, rename).

    Args:
        path: Target file; its folder is created if needed.
        rows: Dicts or pydantic models (dumped without ``None`` fields).

    Returns:
        The number of rows written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            for row in rows:
                data = row.model_dump(mode="json", exclude_none=True) if isinstance(row, BaseModel) else row
                out.write(json.dumps(data, ensure_ascii=False))
                out.write("\n")
                count += 1
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return count
