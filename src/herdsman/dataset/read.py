"""Reading LaMini-format datasets, whoever wrote them.

Accepted: a JSONL file, a Parquet file, a Hugging Face ``save_to_disk`` folder
(``Dataset`` or ``DatasetDict``: splits are concatenated), or a herdsman
``dataset/`` folder (its JSONL splits). Rows need ``instruction`` and
``response`` strings; ``instruction_source`` is kept when present and set to
``unlabelled`` otherwise, so the datasets others publish load as they are.

:func:`read_dataset` loads every column into memory (what training needs);
:func:`iter_rows` streams every row with all its columns and
:func:`iter_core_rows` only the three LaMini columns, with the same checks, so
a stage that scores, counts or samples (``select``, ``analyze``) holds no more
than it keeps, at any size.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from herdsman.errors import InputError
from herdsman.io.jsonl import iter_json_objects

REQUIRED = ("instruction", "response")
UNLABELLED = "unlabelled"
SPLITS = ("train", "held_out")


def source_label(value: Any) -> str:
    """``instruction_source`` as a label: missing, null, NaN or empty -> ``unlabelled``."""
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return UNLABELLED
    return str(value)


def _check_columns(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns[:8])) or "none"
        raise InputError(
            where, None, f"missing column(s) {', '.join(missing)} (columns found: {have})"
        )
    for column in REQUIRED:
        bad = frame[column].map(lambda v: not isinstance(v, str))
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise InputError(where, None, f"row {row + 1}: column '{column}' is not a string")
    if "instruction_source" not in frame.columns:
        frame["instruction_source"] = UNLABELLED
    frame["instruction_source"] = frame["instruction_source"].map(source_label).astype(str)
    return frame


def _checked_objects(path: Path) -> Iterator[dict[str, Any]]:
    """JSONL rows with string ``instruction`` and ``response`` (else a one-line error)."""
    for line, obj in iter_json_objects(path):
        for column in REQUIRED:
            if column not in obj:
                raise InputError(str(path), line, f"missing column '{column}'")
            if not isinstance(obj[column], str):
                raise InputError(str(path), line, f"column '{column}': expected a string")
        yield obj


def _read_jsonl(path: Path) -> pd.DataFrame:
    rows = list(_checked_objects(path))
    return pd.DataFrame(rows, columns=None if rows else list(REQUIRED))


def _read_hf(path: Path) -> pd.DataFrame:
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as exc:  # datasets raises several types for a bad folder
        raise InputError(str(path), None, f"not a Hugging Face dataset folder ({exc})") from None
    if isinstance(loaded, datasets.DatasetDict):
        frames = []
        for name, split in loaded.items():
            frame = split.to_pandas()
            frame["split"] = name
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)
    return loaded.to_pandas()


def _locate(path: Path) -> tuple[str, list[Path]]:
    """What a dataset path holds: ``("jsonl", splits or the file)``, ``("hf", [folder])``
    or ``("parquet", [file])``; a missing path is a one-line error.
    """
    if not path.exists():
        raise InputError(str(path), None, "no such file or folder")
    if path.is_dir():
        splits = [path / f"{name}.jsonl" for name in SPLITS if (path / f"{name}.jsonl").is_file()]
        if splits:
            return "jsonl", splits
        return "hf", [path / "hf" if (path / "hf").is_dir() else path]
    return ("parquet" if path.suffix == ".parquet" else "jsonl"), [path]


def read_dataset(path: str | Path) -> pd.DataFrame:
    """Load a LaMini-format dataset as a DataFrame (see the module docstring).

    Raises:
        InputError: Unknown format, unreadable file, missing or non-string
            ``instruction``/``response`` (naming the file and line or row).
    """
    path = Path(path)
    kind, files = _locate(path)
    if kind == "hf":
        return _check_columns(_read_hf(files[0]), str(files[0]))
    if kind == "parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types for a damaged file
            raise InputError(str(path), None, f"cannot read Parquet ({exc})") from None
        return _check_columns(frame, str(path))
    if path.is_dir():
        frames = []
        for split in files:
            frame = _read_jsonl(split)
            frame["split"] = split.stem
            frames.append(frame)
        return _check_columns(pd.concat(frames, ignore_index=True), str(path))
    return _check_columns(_read_jsonl(path), str(path))


CoreRow = tuple[str, str, str]  # instruction, response, instruction_source
#: The columns :func:`iter_core_rows` reads.
CORE = (*REQUIRED, "instruction_source")


def _arrow_rows(batches: Iterator[Any], names: list[str], where: str) -> Iterator[dict[str, Any]]:
    """Arrow record batches (Parquet or a saved HF dataset) as row dicts, checked like JSONL."""
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        have = ", ".join(names[:8]) or "none"
        raise InputError(
            where, None, f"missing column(s) {', '.join(missing)} (columns found: {have})"
        )
    row = 0
    for batch in batches:
        for obj in batch.to_pylist():
            row += 1
            for column in REQUIRED:
                if not isinstance(obj[column], str):
                    raise InputError(where, None, f"row {row}: column '{column}' is not a string")
            obj["instruction_source"] = source_label(obj.get("instruction_source"))
            yield obj


def _hf_rows(path: Path, core: bool, split_only: str | None) -> Iterator[dict[str, Any]]:
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as exc:  # datasets raises several types for a bad folder
        raise InputError(str(path), None, f"not a Hugging Face dataset folder ({exc})") from None
    parts = list(loaded.items()) if isinstance(loaded, datasets.DatasetDict) else [(None, loaded)]
    for split, part in parts:
        if split_only is not None and split is not None and split != split_only:
            continue
        table = part.data.table
        names = table.column_names
        if core:
            table = table.select([c for c in CORE if c in names])
        where = f"{path} [{split}]" if split else str(path)
        for obj in _arrow_rows(iter(table.to_batches(max_chunksize=10_000)), names, where):
            if split is not None:
                obj["split"] = split
            yield obj


def _parquet_rows(path: Path, core: bool) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises many types for a damaged file
        raise InputError(str(path), None, f"cannot read Parquet ({exc})") from None
    names = parquet.schema_arrow.names
    columns = [c for c in CORE if c in names] if core else None
    try:
        yield from _arrow_rows(
            parquet.iter_batches(batch_size=10_000, columns=columns), names, str(path)
        )
    except (OSError, ValueError) as exc:  # a damaged page or row group (pyarrow's types)
        raise InputError(str(path), None, f"cannot read Parquet ({exc})") from None


def _rows(path: Path, core: bool, split_only: str | None = None) -> Iterator[dict[str, Any]]:
    kind, files = _locate(path)
    if kind == "hf":
        yield from _hf_rows(files[0], core, split_only)
        return
    if kind == "parquet":
        yield from _parquet_rows(path, core)
        return
    for file in files:
        if split_only is not None and path.is_dir() and file.stem != split_only:
            continue
        for obj in _checked_objects(file):
            obj["instruction_source"] = source_label(obj.get("instruction_source"))
            if path.is_dir():
                obj["split"] = file.stem
            yield obj


def iter_rows(path: str | Path, split: str | None = None) -> Iterator[dict[str, Any]]:
    """Stream every row of a dataset :func:`read_dataset` reads, with all its columns.

    Rows come in :func:`read_dataset`'s order, with the same checks, and
    ``instruction_source`` as a label (:func:`source_label`). A row's
    ``split`` is its file's (a herdsman ``dataset/`` folder) or its split's (a
    saved ``DatasetDict``); other inputs keep whatever ``split`` column they have.

    Args:
        path: The dataset.
        split: Skip the other splits' files (a herdsman folder) or parts (a
            ``DatasetDict``) unread. Rows of a single file come whatever their
            ``split``: the caller filters them.

    Raises:
        InputError: As :func:`read_dataset`, raised when the bad row is reached.
    """
    return _rows(Path(path), core=False, split_only=split)


def iter_core_rows(path: str | Path) -> Iterator[CoreRow]:
    """Stream ``(instruction, response, instruction_source)`` from any format :func:`read_dataset` reads.

    Raises:
        InputError: As :func:`read_dataset`, raised when the bad row is reached.
    """
    for obj in _rows(Path(path), core=True):
        yield obj["instruction"], obj["response"], obj["instruction_source"]
