"""Dataset assembly: answered instructions -> a clean, split, exported LaMini dataset.

Input is ``respond`` output (LaMini records with provenance). Two streaming
passes keep memory at a few dozen bytes per row, so millions of rows fit:

1. validate every row, drop empty responses, repeated instructions and rows
   that overlap evaluation items (:mod:`herdsman.dataset.decontaminate`), and hash
   each kept instruction for the split;
2. write the kept rows into the train and held-out splits as JSONL, Parquet
   and a Hugging Face ``save_to_disk`` folder, with a dataset card.

The split is a function of the set of instructions and ``split_seed`` alone:
the ``k`` rows with the smallest keyed hashes are held out, so the same data
and seed give the same split whatever the row order, and the held-out size is
exact even for a tiny dataset. The whole folder is built beside the target and swapped in at the end,
so an interrupted export never leaves a half-written dataset.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from herdsman.config import DatasetConfig
from herdsman.dataset.decontaminate import ContaminationIndex
from herdsman.dataset.read import UNLABELLED
from herdsman.errors import HerdsmanError, InputError
from herdsman.io.atomic import DIR_MODE, fsync_dir, fsync_tree
from herdsman.io.jsonl import dumps_line, iter_json_objects

SPLITS = ("train", "held_out")
PARQUET_BATCH = 20_000


@dataclass
class DatasetReport:
    """What assembly kept, dropped and wrote."""

    rows: int = 0
    empty: int = 0
    duplicates: int = 0
    contaminated: Counter[str] = field(default_factory=Counter)
    kept_by_source: dict[str, Counter[str]] = field(default_factory=dict)
    teachers: Counter[str] = field(default_factory=Counter)
    eval_items: int = 0
    eval_files: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def kept(self) -> int:
        """Rows in the dataset (both splits)."""
        return sum(sum(c.values()) for c in self.kept_by_source.values())

    def split_size(self, split: str) -> int:
        """Rows in one split."""
        return self.kept_by_source.get(split, Counter()).total()


def split_hash(instruction: str, seed: int) -> int:
    """The keyed 64-bit hash that places a row in a split."""
    digest = hashlib.blake2b(instruction.encode("utf-8"), digest_size=8, key=str(seed).encode())
    return int.from_bytes(digest.digest(), "big")


def held_out_count(kept: int, fraction: float) -> int:
    """Rows to hold out: ``round(fraction * kept)``, at least 1 and leaving 1 to train on."""
    if fraction <= 0 or kept < 2:
        return 0
    return min(kept - 1, max(1, round(fraction * kept)))


def _checked_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for line, obj in iter_json_objects(path):
        for column in ("instruction", "response"):
            if not isinstance(obj.get(column), str):
                what = "missing" if column not in obj else "not a string"
                raise InputError(str(path), line, f"column '{column}' is {what}")
        yield line, obj


_STRING_COLUMNS = (
    "instruction",
    "response",
    "instruction_source",
    "id",
    "teacher",
    "model",
    "call_key",
    "prompt_hash",
    "finish_reason",
    "created_at",
)


def _arrow_schema() -> Any:
    import pyarrow as pa

    fields = [pa.field(c, pa.string()) for c in _STRING_COLUMNS]
    fields += [
        pa.field("prompt_tokens", pa.int64()),
        pa.field("completion_tokens", pa.int64()),
        pa.field("seed_ids", pa.list_(pa.string())),
        pa.field("topics", pa.list_(pa.string())),
        pa.field("sampling", pa.string()),
    ]
    return pa.schema(fields)


def _columnar(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows as the fixed Parquet columns (other fields stay in the JSONL only)."""

    def text(v: Any) -> str | None:
        return v if isinstance(v, str) else None

    def integer(v: Any) -> int | None:
        return v if isinstance(v, int) and not isinstance(v, bool) else None

    def strings(v: Any) -> list[str] | None:
        return [str(x) for x in v] if isinstance(v, list) else None

    cols: dict[str, list[Any]] = {c: [text(r.get(c)) for r in rows] for c in _STRING_COLUMNS}
    cols["prompt_tokens"] = [integer(r.get("prompt_tokens")) for r in rows]
    cols["completion_tokens"] = [integer(r.get("completion_tokens")) for r in rows]
    cols["seed_ids"] = [strings(r.get("seed_ids")) for r in rows]
    cols["topics"] = [strings(r.get("topics")) for r in rows]
    cols["sampling"] = [
        orjson.dumps(r["sampling"]).decode() if r.get("sampling") is not None else None
        for r in rows
    ]
    return cols


class _SplitWriter:
    """Writes one split as JSONL, Parquet and the Hugging Face Arrow shard, in batches."""

    def __init__(self, folder: Path, split: str, formats: Sequence[str]) -> None:
        import pyarrow.parquet as pq

        self.schema = _arrow_schema()
        self.jsonl = (folder / f"{split}.jsonl").open("wb") if "jsonl" in formats else None
        self.parquet = (
            pq.ParquetWriter(folder / f"{split}.parquet", self.schema)
            if "parquet" in formats
            else None
        )
        self.arrow = (
            _hf_shard_writer(folder / "hf" / split, self.schema) if "hf" in formats else None
        )
        self.batch: list[dict[str, Any]] = []

    def write(self, row: dict[str, Any]) -> None:
        if self.jsonl:
            self.jsonl.write(dumps_line(row))
        if self.parquet is not None or self.arrow is not None:
            self.batch.append(row)
            if len(self.batch) >= PARQUET_BATCH:
                self.flush()

    def flush(self) -> None:
        import pyarrow as pa

        if self.batch:
            table = pa.Table.from_pydict(_columnar(self.batch), self.schema)
            if self.parquet is not None:
                self.parquet.write_table(table)
            if self.arrow is not None:  # (an ArrowWriter is falsy until it has rows)
                self.arrow.write_table(table)
        self.batch = []

    def close(self) -> None:
        self.flush()
        if self.jsonl:
            self.jsonl.close()
        if self.parquet is not None:
            self.parquet.close()
        if self.arrow is not None:
            self.arrow.finalize()
            self.arrow.close()


HF_SHARD = "data-00000-of-00001.arrow"


def _hf_shard_writer(split_dir: Path, schema: Any) -> Any:
    """``datasets``' own shard writer, fed batch by batch (no split is ever held whole)."""
    import datasets
    from datasets.arrow_writer import ArrowWriter

    split_dir.mkdir(parents=True, exist_ok=True)
    features = datasets.Features.from_arrow_schema(schema)
    return ArrowWriter(features=features, path=str(split_dir / HF_SHARD))


def _save_hf(folder: Path) -> None:
    """Finish a ``DatasetDict`` folder loadable with ``datasets.load_from_disk``.

    The Arrow shards were written while the splits were; this adds the
    metadata ``DatasetDict.save_to_disk`` writes beside them (the dict's split
    list, each split's state and info), read off a memory-mapped ``Dataset``
    of the shard, so nothing is loaded or copied.
    """
    import dataclasses

    import datasets

    datasets.disable_progress_bars()
    hf = folder / "hf"
    (hf / "dataset_dict.json").write_text(orjson.dumps({"splits": list(SPLITS)}).decode())
    for name in SPLITS:
        shard = datasets.Dataset.from_file(str(hf / name / HF_SHARD), split=name)
        state = {
            "_data_files": [{"filename": HF_SHARD}],
            "_fingerprint": shard._fingerprint,
            "_format_columns": None,
            "_format_kwargs": {},
            "_format_type": None,
            "_output_all_columns": False,
            "_split": name,
        }
        (hf / name / "state.json").write_text(
            orjson.dumps(state, option=orjson.OPT_INDENT_2).decode()
        )
        info = dataclasses.asdict(shard.info)
        (hf / name / "dataset_info.json").write_text(
            orjson.dumps({k: info[k] for k in sorted(info)}, option=orjson.OPT_INDENT_2).decode()
        )


def build_dataset(
    responses: Path,
    out_dir: Path,
    settings: DatasetConfig,
    eval_files: list[Path],
    card: Callable[[DatasetReport], str] | None = None,
) -> DatasetReport:
    """Assemble, decontaminate, split and export the dataset into ``out_dir``.

    Args:
        responses: LaMini JSONL from ``respond``.
        out_dir: The dataset folder (replaced as a whole at the end).
        settings: Split, formats and decontamination settings.
        eval_files: Evaluation files to decontaminate against.
        card: Renders the dataset card (``README.md``, also put in ``hf/``).

    Returns:
        Counts by split and source, removals and the files written.

    Raises:
        InputError: A row without string ``instruction``/``response``, or an
            unreadable evaluation file.
        HerdsmanError: Nothing left to export.
    """
    report = DatasetReport()
    index = ContaminationIndex(settings.decontaminate.n, settings.decontaminate.min_words)
    if settings.decontaminate.enabled:
        for path in eval_files:
            index.add_file(path)
            report.eval_files.append(str(path))
    report.eval_items = index.items
    check = settings.decontaminate.enabled and index.items > 0

    keep = bytearray()
    hashes = array("Q")
    seen: set[bytes] = set()
    removed: list[dict[str, Any]] = []
    for line, obj in _checked_rows(responses):
        report.rows += 1
        instruction, response = obj["instruction"], obj["response"]
        ok = False
        digest = hashlib.blake2b(instruction.encode("utf-8"), digest_size=16).digest()
        if not response.strip():
            report.empty += 1
        elif digest in seen:
            report.duplicates += 1
        elif check and (match := index.match_any((instruction, response))):
            source = str(obj.get("instruction_source") or UNLABELLED)
            report.contaminated[source] += 1
            removed.append({"line": line, "matched": match, **obj})
        else:
            ok = True
            seen.add(digest)
            hashes.append(split_hash(instruction, settings.split_seed))
        keep.append(ok)
    del seen
    if not hashes:
        raise HerdsmanError(f"{responses}: no usable rows to build a dataset from")
    k = held_out_count(len(hashes), settings.held_out)
    threshold = sorted(hashes)[k - 1] if k else -1

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    tmp.chmod(DIR_MODE)
    try:
        writers = {s: _SplitWriter(tmp, s, settings.formats) for s in SPLITS}
        row_no = kept_no = 0
        for _, obj in iter_json_objects(responses):
            row_no += 1
            if not keep[row_no - 1]:
                continue
            split = "held_out" if hashes[kept_no] <= threshold else "train"
            kept_no += 1
            source = str(obj.get("instruction_source") or UNLABELLED)
            obj["instruction_source"] = source
            writers[split].write(obj)
            report.kept_by_source.setdefault(split, Counter())[source] += 1
            report.teachers[f"{obj.get('teacher', '?')}:{obj.get('model', '?')}"] += 1
        for writer in writers.values():
            writer.close()
        if "hf" in settings.formats:
            _save_hf(tmp)
        with (tmp / "removed.jsonl").open("wb") as out:
            for row in removed:
                out.write(dumps_line(row))
        report.files = sorted([p.name for p in tmp.iterdir()] + ["stats.json"])
        if card is not None:
            text = card(report)
            report.files = sorted([*report.files, "README.md"])
            (tmp / "README.md").write_text(text, encoding="utf-8")
            if (tmp / "hf").is_dir():
                (tmp / "hf" / "README.md").write_text(text, encoding="utf-8")
        (tmp / "stats.json").write_bytes(
            orjson.dumps(report_json(report), option=orjson.OPT_INDENT_2)
        )
        _swap_in(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report


def report_json(report: DatasetReport) -> dict[str, Any]:
    """The report as JSON-ready numbers (``stats.json``)."""
    return {
        "rows_in": report.rows,
        "kept": report.kept,
        "splits": {s: report.split_size(s) for s in SPLITS},
        "by_source": {s: dict(c) for s, c in report.kept_by_source.items()},
        "dropped": {
            "empty_response": report.empty,
            "repeated_instruction": report.duplicates,
            "contaminated": dict(report.contaminated),
        },
        "teachers": dict(report.teachers),
        "decontamination": {"eval_files": report.eval_files, "eval_items": report.eval_items},
    }


def _swap_in(new: Path, target: Path) -> None:
    """Replace folder ``target`` by ``new``; the old one goes only once the new is in place.

    Every file of ``new`` is fsynced before the swap and the parent folder
    after it, so a power cut leaves either the old dataset or the complete new one.
    """
    fsync_tree(new)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(new, target)
    fsync_dir(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
