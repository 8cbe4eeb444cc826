"""``herdsman dedup`` on one file in any seed format: two streaming passes, kept records in order.

Records pass through unchanged (every field, an instruction's input
included), so the output is the input minus its duplicates. The text compared
is the format's instruction: ``instruction`` (herdsman JSONL, Self-Instruct,
Alpaca), ``prompt`` (P3), ``inputs`` (FLAN), or the field given. JSONL formats
are written as JSONL, an Alpaca JSON array as a JSON array; folders (a P3
template folder, a saved FLAN dataset) are refused: dedup one file at a time.

Two methods: ``exact`` (:mod:`herdsman.generation.dedup`: the exhaustive
rule's decisions, whose cost grows faster than the row count on
template-heavy data) and ``lsh`` (:mod:`herdsman.generation.dedup_lsh`: MinHash
candidates, exact check; near-linear, recall just under 1). ``auto`` takes
``exact`` up to :data:`AUTO_EXACT_MAX` records or below a threshold of
:data:`AUTO_LSH_MIN_THRESHOLD`, and ``lsh`` otherwise.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from herdsman.errors import InputError
from herdsman.generation.dedup import (
    THRESHOLD,
    DedupDecision,
    Deduplicator,
    DedupStats,
    normalise,
    occurrence_frequencies,
    rouge_tokens,
)
from herdsman.generation.dedup_lsh import LshSettings, Progress, TokenTable, decide
from herdsman.generation.seeds import detect_format
from herdsman.io.atomic import write_text_atomic
from herdsman.io.jsonl import (
    MAX_RECORD_BYTES,
    BadLines,
    iter_json_objects,
    refuse_long_lines,
    write_jsonl_atomic,
)

#: The field holding the instruction text, per format.
TEXT_FIELDS = {
    "jsonl": "instruction", "self-instruct": "instruction", "alpaca": "instruction",
    "p3": "prompt", "flan": "inputs",
}  # fmt: skip
METHODS = ("auto", "exact", "lsh")
#: ``auto`` deduplicates exactly up to this many records, with LSH above...
AUTO_EXACT_MAX = 50_000
#: ...and at thresholds from this one up (below it, pairs to catch share so
#: few tokens that signatures find them only by making nearly everything a candidate).
AUTO_LSH_MIN_THRESHOLD = 0.6


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


def exact_key(text: str) -> int:
    """64-bit hash of a text's normalised form (exact duplicates share it)."""
    digest = hashlib.blake2b(normalise(text).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def dedup_file(
    in_path: str | Path,
    out_path: str | Path,
    threshold: float = THRESHOLD,
    field: str | None = None,
    dropped_path: str | Path | None = None,
    *,
    skip_bad: bool = False,
    fmt: str = "auto",
    method: str = "auto",
    lsh: LshSettings | None = None,
    progress: Progress | None = None,
) -> DedupStats:
    """Deduplicate a JSONL file by one text field (see the module docstring for ``method``).

    The first pass validates every line and tokenises it (token frequencies
    for ``exact``, a token table and signatures for ``lsh``); the second
    decides (``exact``) or applies the decisions (``lsh``) and writes.
    """
    in_path = Path(in_path)
    if in_path.is_dir():
        raise InputError(str(in_path), None, "a folder: dedup reads one file (dedup each file)")
    if method not in METHODS:
        raise InputError(
            str(in_path), None, f"unknown method '{method}' (one of {', '.join(METHODS)})"
        )
    fmt = detect_format(in_path) if fmt == "auto" else fmt
    if fmt not in TEXT_FIELDS:
        raise InputError(str(in_path), None, f"unknown format '{fmt}'")
    if fmt == "jsonl":  # one huge record would cost gigabytes of tokens: refused before reading
        refuse_long_lines(in_path, MAX_RECORD_BYTES)
    field = field or TEXT_FIELDS[fmt]

    def texts() -> Iterator[tuple[int, dict[str, Any], str]]:
        return _texts(in_path, fmt, field, skip_bad, BadLines())

    table: TokenTable | None = None
    keys = array("Q")
    if method != "exact":
        table = TokenTable()
        for _, _, text in texts():
            table.add(rouge_tokens(text))
            keys.append(exact_key(text))
        if method == "auto" and (
            len(table) <= AUTO_EXACT_MAX or threshold < AUTO_LSH_MIN_THRESHOLD
        ):
            table = None
    decider: _ExactDecider | _LshDecider
    if table is None:
        df = occurrence_frequencies(rouge_tokens(text) for _, _, text in texts())
        decider = _ExactDecider(Deduplicator(threshold, df))
    else:
        decider = _LshDecider(
            table, keys, threshold, lsh or LshSettings.for_threshold(threshold), progress
        )
    dropped: list[dict[str, Any]] = []
    lines = array("q")

    def kept() -> Iterator[dict[str, Any]]:
        for index, (line, obj, text) in enumerate(texts()):
            if index >= decider.stats.total and table is not None:
                raise InputError(str(in_path), line, "the file grew while it was deduplicated")
            lines.append(line)
            decision = decider.check(index, text)
            if decision.kept:
                yield obj
            elif dropped_path is not None:
                dropped.append(
                    {
                        "line": line,
                        "reason": decision.reason,
                        "duplicate_of_line": lines[decision.match or 0],
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
    return decider.stats


class _ExactDecider:
    """Decides as it goes (the exact index)."""

    def __init__(self, dedup: Deduplicator) -> None:
        self.dedup = dedup
        self.stats = dedup.stats

    def check(self, index: int, text: str) -> DedupDecision:
        return self.dedup.check(index, text)


class _LshDecider:
    """Hands out decisions taken up front over the whole file (the LSH index)."""

    def __init__(
        self,
        table: TokenTable,
        keys: array[int],
        threshold: float,
        settings: LshSettings,
        progress: Progress | None,
    ) -> None:
        self.outcome = decide(table, keys, threshold, settings, progress)
        reasons = self.outcome.reasons
        self.stats = DedupStats(
            total=len(table),
            kept=len(table) - len(reasons),
            exact=sum(1 for r in reasons.values() if r[0] == "exact"),
            near=sum(1 for r in reasons.values() if r[0] == "near"),
            candidates_checked=self.outcome.candidates_checked,
            method="lsh",
            full_buckets=self.outcome.full_buckets,
            over_budget=self.outcome.over_budget,
        )

    def check(self, index: int, text: str) -> DedupDecision:
        if self.outcome.kept[index]:
            return DedupDecision(True)
        reason, match, score = self.outcome.reasons[index]
        return DedupDecision(False, reason, match, score)
