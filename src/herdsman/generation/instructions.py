"""One reader for instructions to answer, judge or rate, in every format ``herdsman seeds`` reads.

A command that answers instructions must never half-read a file: an
instruction whose input sits in a field the reader does not know would be
answered without it. So every such command reads through here:

- ``jsonl``: herdsman or LaMini-style records, ``{"instruction", "input"?, "id"?,
  "instruction_source"?, "source"?, "seed_ids"?, "topics"?}``; a record that
  also carries ``instances``, ``prompt`` or ``inputs`` (another format's
  instruction text, which would be ignored) is refused with ``file:line``;
- ``self-instruct``: ``{instruction, instances: [{input, output}]}``: one
  instruction per instance, each with its input;
- ``alpaca``, ``p3``, ``flan``: through :func:`herdsman.generation.seeds.load_seeds`;
- ``auto``: decided as ``herdsman seeds`` decides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from herdsman.errors import InputError
from herdsman.generation.seeds import FORMATS, detect_format, load_seeds
from herdsman.io.jsonl import BadLines, iter_json_objects
from herdsman.records import ORIGINAL_SOURCE, Instruction, Provenance

#: Fields that hold another format's instruction text: a herdsman JSONL record with one is refused.
FOREIGN_FIELDS = ("instances", "prompt", "inputs")


def instruction_from_obj(
    obj: dict[str, Any], path: Path, line: int, default_source: str, stem: str | None = None
) -> Instruction:
    """Read one input object as an :class:`Instruction` (``stem``: ``path.stem``, precomputed).

    Raises:
        InputError: Missing or empty ``instruction``, or wrongly typed fields.
    """
    for name in FOREIGN_FIELDS:
        if name in obj:
            raise InputError(
                str(path),
                line,
                f"field '{name}' would be ignored: this file reads as herdsman JSONL "
                "(instruction and input); give --format for its real format",
            )
    text = obj.get("instruction")
    if text is None:
        raise InputError(str(path), line, "missing field 'instruction'")
    if not isinstance(text, str):
        raise InputError(str(path), line, "field 'instruction': expected a string")
    if not text.strip():
        raise InputError(str(path), line, "field 'instruction': empty instruction")
    extra = obj.get("input", "")
    if extra is None:
        extra = ""
    if not isinstance(extra, str):
        raise InputError(str(path), line, "field 'input': expected a string")
    source = (
        obj.get("instruction_source")
        or ORIGINAL_SOURCE.get(str(obj.get("source")))
        or obj.get("source")
    )
    return Instruction(
        id=str(obj.get("id") or f"{stem or path.stem}:{line}"),
        instruction=text,
        input=extra,
        instruction_source=str(source or default_source),
        provenance=_carried_provenance(obj, path, line),
    )


def _carried_provenance(obj: dict[str, Any], path: Path, line: int) -> Provenance | None:
    """Seed ids and topics an upstream stage recorded (top level or under ``provenance``)."""
    raw = obj.get("provenance")
    nested: dict[str, Any] = raw if isinstance(raw, dict) else {}
    seed_ids = obj.get("seed_ids", nested.get("seed_ids"))
    topics = obj.get("topics", nested.get("topics"))
    if seed_ids is None and topics is None:
        return None
    for name, value in (("seed_ids", seed_ids), ("topics", topics)):
        if value is not None and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            raise InputError(str(path), line, f"field '{name}': expected a list of strings")
    return Provenance(seed_ids=seed_ids, topics=topics)


def _jsonl(path: Path, default_source: str, skip_bad: bool, bad: BadLines) -> Iterator[Instruction]:
    stem = path.stem
    for line, obj in iter_json_objects(path, skip_bad=skip_bad, bad=bad):
        try:
            yield instruction_from_obj(obj, path, line, default_source, stem)
        except InputError as exc:
            if not skip_bad:
                raise
            bad.add(exc)


def _self_instruct(path: Path, skip_bad: bool, bad: BadLines) -> Iterator[Instruction]:
    source = ORIGINAL_SOURCE["self-instruct"]
    for line, obj in iter_json_objects(path, skip_bad=skip_bad, bad=bad):
        try:
            text = obj.get("instruction")
            if not isinstance(text, str) or not text.strip():
                raise InputError(str(path), line, "missing field 'instruction'")
            instances = obj.get("instances") or [{}]
            if not isinstance(instances, list) or not all(isinstance(i, dict) for i in instances):
                raise InputError(str(path), line, "field 'instances': expected a list of objects")
            ident = str(obj.get("id", f"{path.stem}:{line}"))
            for n, instance in enumerate(instances):
                given = instance.get("input") or ""
                if not isinstance(given, str):
                    raise InputError(
                        str(path), line, f"field 'instances[{n}].input': expected a string"
                    )
                yield Instruction(
                    id=ident if len(instances) == 1 else f"{ident}#{n}",
                    instruction=text,
                    input=given,
                    instruction_source=source,
                )
        except InputError as exc:
            if not skip_bad:
                raise
            bad.add(exc)


def read_instructions(
    path: Path, fmt: str, default_source: str, skip_bad: bool, bad: BadLines
) -> Iterator[Instruction]:
    """Yield the instructions of a file or folder in order, in any seed format.

    Args:
        path: File or folder.
        fmt: One of ``herdsman seeds``' formats (``auto`` detects it).
        default_source: ``instruction_source`` for JSONL records that carry none.
        skip_bad: Skip malformed records (counted in ``bad``) instead of failing.
        bad: Collects skipped records.

    Raises:
        InputError: Malformed input, or a record with a field that would be ignored.
    """
    if fmt not in FORMATS:
        raise InputError(str(path), None, f"unknown format '{fmt}' (one of {', '.join(FORMATS)})")
    resolved = detect_format(path) if fmt == "auto" else fmt
    if resolved == "jsonl":
        yield from _jsonl(path, default_source, skip_bad, bad)
    elif resolved == "self-instruct":
        yield from _self_instruct(path, skip_bad, bad)
    else:
        for seed in load_seeds(path, resolved, skip_bad=skip_bad, bad=bad):
            yield Instruction(
                id=seed.id,
                instruction=seed.instruction,
                input=seed.input,
                instruction_source=ORIGINAL_SOURCE.get(seed.source, default_source),
            )


def path_digest(path: Path) -> str:
    """SHA-256 of a file, or of every file of a folder (names and bytes, in order)."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        digest.update(file.relative_to(path).as_posix().encode() + b"\0" if file != path else b"")
        with file.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()
