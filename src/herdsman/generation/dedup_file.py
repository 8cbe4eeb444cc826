"""``herdsman dedup`` on one file in any seed format: two streaming passes, kept records in order.

Records pass through unchanged (every field, an instruction's input
included), so the output is the input minus its duplicates. The text compared
is the format's instruction: ``instruction`` (herdsman JSONL, Self-Instruct,
Alpaca), ``prompt`` (P3), ``inputs`` (FLAN), or the field given. JSONL formats
are written as JSONL, an Alpaca JSON array as a JSON array; folders (a P3
template folder, a saved FLAN dataset) are refused: dedup one file at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from herdsman.errors import InputError
from herdsman.generation.dedup import Deduplicator, DedupStats, occurrence_frequencies, rouge_tokens
from herdsman.generation.seeds import detect_format
from herdsman.io.atomic import write_text_atomic
from herdsman.io.jsonl import BadLines, iter_json_objects, write_jsonl_atomic

#: The field holding the instruction text, per format.
TEXT_FIELDS = {
    "jsonl": "instruction", "self-instruct": "instruction", "alpaca": "instruction",
    "p3": "prompt", "flan": "inputs",
}  # fmt: skip


def _records(path: Path, fmt: str, skip_bad: bool, bad: BadLines) -> Iterator[tuple[int, Any]]:
    """``(line or array index + 1, record)`` of a JSONL file or an Alpaca JSON array."""
    if fmt != "alpaca":
        yield from iter_json_objects(path, skip_bad=skip_bad, bad=bad)
        return
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InputError(str(path), None, f"invalid JSON ({exc})") from None
    if not isinstance(data, list):
        raise InputError(str(path), None, "expected a JSON array of {instruction, input, output}")
    for index, obj in enumerate(data):
        if not isinstance(obj, dict):
            err = InputError(f"{path}[{index}]", None, "expected an object")
            if not skip_bad:
                raise err
            bad.add(err)
            continue
        yield index + 1, obj


def _texts(
    path: Path, fmt: str, field: str, skip_bad: bool, bad: BadLines
) -> Iterator[tuple[int, dict[str, Any], str]]:
    for line, obj in _records(path, fmt, skip_bad, bad):
        text = obj.get(field)
        if not isinstance(text, str):
            err = InputError(
                str(path),
                line,
                f"missing field '{field}'"
                if text is None
                else f"field '{field}': expected a string",
            )
            if not skip_bad:
                raise err
            bad.add(err)
            continue
        yield line, obj, text


def dedup_file(
    in_path: str | Path,
    out_path: str | Path,
    threshold: float = 0.7,
    field: str | None = None,
    dropped_path: str | Path | None = None,
    *,
    skip_bad: bool = False,
    fmt: str = "auto",
) -> DedupStats:
    """Deduplicate a JSONL file by one text field (see :mod:`herdsman.generation.dedup`).

    The first pass validates every line and counts token frequencies (which
    fix the index's token order); the second decides and writes.
    """
    in_path = Path(in_path)
    if in_path.is_dir():
        raise InputError(str(in_path), None, "a folder: dedup reads one file (dedup each file)")
    fmt = detect_format(in_path) if fmt == "auto" else fmt
    if fmt not in TEXT_FIELDS:
        raise InputError(str(in_path), None, f"unknown format '{fmt}'")
    field = field or TEXT_FIELDS[fmt]
    df = occurrence_frequencies(
        rouge_tokens(text) for _, _, text in _texts(in_path, fmt, field, skip_bad, BadLines())
    )
    dedup = Deduplicator(threshold, df)
    dropped: list[dict[str, Any]] = []
    lines: dict[int, int] = {}

    def kept() -> Iterator[dict[str, Any]]:
        for index, (line, obj, text) in enumerate(
            _texts(in_path, fmt, field, skip_bad, BadLines())
        ):
            lines[index] = line
            decision = dedup.check(index, text)
            if decision.kept:
                yield obj
            elif dropped_path is not None:
                dropped.append(
                    {
                        "line": line,
                        "reason": decision.reason,
                        "duplicate_of_line": lines.get(decision.match or 0),
                        "score": decision.score,
                        field: text,
                    }
                )

    if fmt == "alpaca":  # an array in, an array out
        write_text_atomic(out_path, orjson.dumps(list(kept()), option=orjson.OPT_INDENT_2).decode())
    else:
        write_jsonl_atomic(out_path, kept())
    if dropped_path is not None:
        write_jsonl_atomic(dropped_path, dropped)
    return dedup.stats
