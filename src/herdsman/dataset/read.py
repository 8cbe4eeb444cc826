"""Reading LaMini-format datasets, whoever wrote them.

Accepted: a JSONL file, a Parquet file, a Hugging Face ``save_to_disk`` folder
(``Dataset`` or ``DatasetDict``: splits are concatenated), or a herdsman
``dataset/`` folder (its JSONL splits). Rows need ``instruction`` and
``response`` strings; ``instruction_source`` is kept when present and set to
``unlabelled`` otherwise, so the datasets others publish load as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from herdsman.errors import InputError
from herdsman.io.jsonl import iter_json_objects

REQUIRED = ("instruction", "response")
UNLABELLED = "unlabelled"
SPLITS = ("train", "held_out")


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
    frame["instruction_source"] = frame["instruction_source"].fillna(UNLABELLED).astype(str)
    return frame


def _read_jsonl(path: Path) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for line, obj in iter_json_objects(path):
        for column in REQUIRED:
            if column not in obj:
                raise InputError(str(path), line, f"missing column '{column}'")
            if not isinstance(obj[column], str):
                raise InputError(str(path), line, f"column '{column}': expected a string")
        rows.append(obj)
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


def read_dataset(path: str | Path) -> pd.DataFrame:
    """Load a LaMini-format dataset as a DataFrame (see the module docstring).

    Raises:
        InputError: Unknown format, unreadable file, missing or non-string
            ``instruction``/``response`` (naming the file and line or row).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), None, "no such file or folder")
    if path.is_dir():
        splits = [path / f"{name}.jsonl" for name in SPLITS if (path / f"{name}.jsonl").is_file()]
        if splits:
            frames = []
            for split in splits:
                frame = _read_jsonl(split)
                frame["split"] = split.stem
                frames.append(frame)
            return _check_columns(pd.concat(frames, ignore_index=True), str(path))
        if (path / "hf").is_dir():
            path = path / "hf"
        return _check_columns(_read_hf(path), str(path))
    if path.suffix == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types for a damaged file
            raise InputError(str(path), None, f"cannot read Parquet ({exc})") from None
        return _check_columns(frame, str(path))
    return _check_columns(_read_jsonl(path), str(path))
