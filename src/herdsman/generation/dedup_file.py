"""``herdsman dedup`` on a JSONL file: two streaming passes, kept records written in order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from herdsman.errors import InputError
from herdsman.generation.dedup import Deduplicator, DedupStats, occurrence_frequencies, rouge_tokens
from herdsman.io.jsonl import BadLines, iter_json_objects, write_jsonl_atomic


def _texts(
    path: Path, field: str, skip_bad: bool, bad: BadLines
) -> Iterator[tuple[int, dict[str, Any], str]]:
    for line, obj in iter_json_objects(path, skip_bad=skip_bad, bad=bad):
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
    field: str = "instruction",
    dropped_path: str | Path | None = None,
    *,
    skip_bad: bool = False,
) -> DedupStats:
    """Deduplicate a JSONL file by one text field (see :mod:`herdsman.generation.dedup`).

    The first pass validates every line and counts token frequencies (which
    fix the index's token order); the second decides and writes.
    """
    in_path = Path(in_path)
    df = occurrence_frequencies(
        rouge_tokens(text) for _, _, text in _texts(in_path, field, skip_bad, BadLines())
    )
    dedup = Deduplicator(threshold, df)
    dropped: list[dict[str, Any]] = []
    lines: dict[int, int] = {}

    def kept() -> Iterator[dict[str, Any]]:
        for index, (line, obj, text) in enumerate(_texts(in_path, field, skip_bad, BadLines())):
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

    write_jsonl_atomic(out_path, kept())
    if dropped_path is not None:
        write_jsonl_atomic(dropped_path, dropped)
    return dedup.stats
