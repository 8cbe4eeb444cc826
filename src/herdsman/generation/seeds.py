"""Normalise seed tasks from any supported format into :class:`~herdsman.records.Seed` records.

Formats:

- ``self-instruct``: ``seed_tasks.jsonl`` (and ``user_oriented_instructions.jsonl``):
  ``{id, instruction, instances: [{input, output}], ...}``; the first instance
  gives input and output; subset is ``motivation_app`` where present.
- ``alpaca``: one JSON array of ``{instruction, input, output}``.
- ``p3``: a folder of one-file-per-template JSONL with ``prompt`` and
  ``completion`` (the trailing ``<|endoftext|>`` is stripped); subset = file stem.
- ``flan``: JSONL (or a ``datasets`` folder saved with ``save_to_disk``) with
  ``inputs``, ``targets`` and a task name (``task_name``, ``task`` or ``_task_name``).
- ``jsonl``: records already shaped like a seed (``instruction`` required).
- ``auto``: decided from the path and the first record.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from herdsman.errors import InputError
from herdsman.io.jsonl import BadLines, iter_json_objects
from herdsman.records import Seed

SeedFormat = Literal["auto", "self-instruct", "alpaca", "p3", "flan", "jsonl"]
FORMATS: tuple[str, ...] = ("auto", "self-instruct", "alpaca", "p3", "flan", "jsonl")
EOT_MARKERS = ("<|endoftext|>", "</s>")
FLAN_TASK_FIELDS = ("task_name", "task", "_task_name")


def _text(
    obj: dict[str, Any], name: str, path: Path, line: int | None, required: bool = True
) -> str:
    value = obj.get(name)
    if value is None:
        if required:
            raise InputError(str(path), line, f"missing field '{name}'")
        return ""
    if not isinstance(value, str):
        raise InputError(str(path), line, f"field '{name}': expected a string")
    return value


def _make_seed(path: Path, line: int | None, **fields: Any) -> Seed:
    if not str(fields.get("instruction", "")).strip():
        raise InputError(str(path), line, "field 'instruction': empty instruction")
    return Seed(**fields)


def strip_eot(text: str) -> str:
    """Remove a trailing end-of-text marker (and the whitespace before it)."""
    stripped = text.rstrip()
    for marker in EOT_MARKERS:
        if stripped.endswith(marker):
            return stripped[: -len(marker)].rstrip()
    return text


def _build_all(
    rows: Iterable[tuple[int | None, Any]],
    build: Callable[[int | None, Any], Seed],
    skip_bad: bool,
    bad: BadLines,
) -> Iterator[Seed]:
    """Build a seed from each ``(line, object)``, skipping bad ones under ``skip_bad``."""
    for line, obj in rows:
        try:
            yield build(line, obj)
        except InputError as exc:
            if not skip_bad:
                raise
            bad.add(exc)


def _self_instruct(path: Path, skip_bad: bool, bad: BadLines) -> Iterator[Seed]:
    def build(line: int | None, obj: dict[str, Any]) -> Seed:
        instances = obj.get("instances") or [{}]
        if not isinstance(instances, list) or not isinstance(instances[0], dict):
            raise InputError(str(path), line, "field 'instances': expected a list of objects")
        first = instances[0]
        return _make_seed(
            path,
            line,
            id=f"self-instruct:{obj.get('id', line)}",
            instruction=_text(obj, "instruction", path, line),
            input=_text(first, "input", path, line, required=False),
            output=_text(first, "output", path, line, required=False),
            source="self-instruct",
            subset=str(obj.get("motivation_app") or ""),
        )

    yield from _build_all(iter_json_objects(path, skip_bad=skip_bad, bad=bad), build, skip_bad, bad)


def _alpaca(path: Path, skip_bad: bool, bad: BadLines) -> Iterator[Seed]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(
            str(path), exc.lineno, f"invalid JSON ({exc.msg} at column {exc.colno})"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), None, f"cannot read ({exc})") from None
    if not isinstance(data, list):
        raise InputError(str(path), None, "expected a JSON array of {instruction, input, output}")

    def build(index: int | None, obj: Any) -> Seed:
        where = Path(f"{path}[{index}]")
        if not isinstance(obj, dict):
            raise InputError(str(where), None, "expected an object")
        return _make_seed(
            where,
            None,
            id=f"alpaca:{index}",
            instruction=_text(obj, "instruction", where, None),
            input=_text(obj, "input", where, None, required=False),
            output=_text(obj, "output", where, None, required=False),
            source="alpaca",
        )

    yield from _build_all(enumerate(data), build, skip_bad, bad)


def _p3_file(path: Path, skip_bad: bool, bad: BadLines) -> Iterator[Seed]:
    subset = path.stem

    def build(line: int | None, obj: dict[str, Any]) -> Seed:
        return _make_seed(
            path,
            line,
            id=f"p3:{subset}:{line}",
            instruction=_text(obj, "prompt", path, line).strip(),
            output=strip_eot(_text(obj, "completion", path, line, required=False)),
            source="p3",
            subset=subset,
        )

    yield from _build_all(iter_json_objects(path, skip_bad=skip_bad, bad=bad), build, skip_bad, bad)


def _p3(path: Path, skip_bad: bool, bad: BadLines) -> Iterator[Seed]:
    if path.is_file():
        yield from _p3_file(path, skip_bad, bad)
        return
    files = sorted(path.glob("*.jsonl"))
    if not files:
        raise InputError(str(path), None, "no *.jsonl template files in this P3 folder")
    for file in files:
        yield from _p3_file(file, skip_bad, bad)


def _flan(path: Path, skip_bad: bool, bad: BadLines) -> Iterator[Seed]:
    def build(line: int | None, obj: dict[str, Any]) -> Seed:
        task = next((str(obj[f]) for f in FLAN_TASK_FIELDS if obj.get(f)), "")
        if not task:
            raise InputError(
                str(path), line, f"missing task name (one of {', '.join(FLAN_TASK_FIELDS)})"
            )
        return _make_seed(
            path,
            line,
            id=f"flan:{task}:{obj.get('id', line)}",
            instruction=_text(obj, "inputs", path, line).strip(),
            output=_text(obj, "targets", path, line, required=False),
            source="flan",
            subset=task,
        )

    if path.is_file():
        yield from _build_all(
            iter_json_objects(path, skip_bad=skip_bad, bad=bad), build, skip_bad, bad
        )
        return
    try:
        from datasets import load_from_disk
    except ImportError:
        raise InputError(
            str(path), None, "reading a datasets folder needs: pip install datasets"
        ) from None
    try:
        ds: Any = load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise InputError(str(path), None, f"not a datasets folder ({exc})") from None
    splits = [ds[name] for name in ds] if hasattr(ds, "keys") else [ds]  # DatasetDict or Dataset
    rows = enumerate(row for split in splits for row in split)
    yield from _build_all(rows, build, skip_bad, bad)


def _jsonl(path: Path, skip_bad: bool, bad: BadLines) -> Iterator[Seed]:
    def build(line: int | None, obj: dict[str, Any]) -> Seed:
        source = str(obj.get("source") or path.stem)
        return _make_seed(
            path,
            line,
            id=str(obj.get("id") or f"{source}:{line}"),
            instruction=_text(obj, "instruction", path, line),
            input=_text(obj, "input", path, line, required=False),
            output=_text(obj, "output", path, line, required=False),
            source=source,
            subset=str(obj.get("subset") or ""),
        )

    yield from _build_all(iter_json_objects(path, skip_bad=skip_bad, bad=bad), build, skip_bad, bad)


def detect_format(path: Path) -> str:
    """Guess the seed format of ``path`` from its shape and first record.

    Raises:
        InputError: If the path does not exist or the format cannot be told.
    """
    if not path.exists():
        raise InputError(str(path), None, "no such file or folder")
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
            return "flan"
        if any(path.glob("*.jsonl")):
            return "p3"
        raise InputError(str(path), None, "cannot tell the format of this folder; pass --format")
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        head = handle.read(1)
        while head and head.isspace():
            head = handle.read(1)
    if head == "[":
        return "alpaca"
    first: dict[str, Any] = {}
    for _line, obj in iter_json_objects(path, skip_bad=True):
        first = obj
        break
    if "instances" in first:
        return "self-instruct"
    if "prompt" in first and "completion" in first:
        return "p3"
    if "inputs" in first and "targets" in first:
        return "flan"
    if "instruction" in first:
        return "jsonl"
    raise InputError(str(path), None, "cannot tell the seed format; pass --format")


_READERS = {
    "self-instruct": _self_instruct,
    "alpaca": _alpaca,
    "p3": _p3,
    "flan": _flan,
    "jsonl": _jsonl,
}


def load_seeds(
    path: str | Path, fmt: str = "auto", *, skip_bad: bool = False, bad: BadLines | None = None
) -> Iterator[Seed]:
    """Yield the seeds of one input in its format.

    Args:
        path: File or folder.
        fmt: One of :data:`FORMATS`.
        skip_bad: Skip malformed records (counted in ``bad``) instead of failing.
        bad: Collects skipped records.

    Raises:
        InputError: Malformed input (names the file and line), unless ``skip_bad``.
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise InputError(str(path), None, f"unknown format '{fmt}' (one of {', '.join(FORMATS)})")
    if not path.exists():
        raise InputError(str(path), None, "no such file or folder")
    resolved = detect_format(path) if fmt == "auto" else fmt
    yield from _READERS[resolved](path, skip_bad, bad if bad is not None else BadLines())
