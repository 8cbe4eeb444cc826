"""The models an evaluation covers: students (from their folders) and their bases.

A student folder written by ``herdsman train`` records its base, architecture
and prompt wrapper in ``herdsman-train.json``; any other Hugging Face model
folder is evaluated as it is (architecture from its config, no wrapper). A
base is evaluated with its student's wrapper, so the pair differs only by the
training.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from herdsman.errors import HerdsmanError
from herdsman.train.bases import detect_architecture, resolve_base
from herdsman.train.prune import INIT_FOLDER
from herdsman.train.student import TRAIN_RECORD

Role = Literal["student", "base", "model"]


@dataclass(frozen=True)
class EvalModel:
    """One model to evaluate.

    Attributes:
        name: Display name (a student's name, a base's name, or the folder name).
        path: The model folder.
        architecture: ``causal`` or ``seq2seq``.
        wrapper: How instructions are shown to it (``alpaca``, ``chat``, ``none``).
        role: ``student``, ``base`` (of a student) or ``model`` (any other folder).
        base_of: For a base, the student it is the base of.
        base_name: For a student, the name of its base.
    """

    name: str
    path: Path
    architecture: str
    wrapper: str
    role: Role
    base_of: str | None = None
    base_name: str | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        data = asdict(self)
        data["path"] = str(self.path)
        return data


def _train_record(folder: Path) -> dict[str, object] | None:
    path = folder / TRAIN_RECORD
    if not path.is_file():
        return None
    try:
        data: dict[str, object] = json.loads(path.read_text())
    except ValueError as exc:
        raise HerdsmanError(f"{path}: not valid JSON ({exc})") from None
    return data


def model_from_dir(folder: Path) -> EvalModel:
    """Describe the model in ``folder``.

    Raises:
        HerdsmanError: The folder is missing or is not a model folder.
    """
    if not folder.exists():
        raise HerdsmanError(f"{folder}: no such model folder")
    if not folder.is_dir():
        raise HerdsmanError(f"{folder}: not a folder (expected a Hugging Face model folder)")
    architecture = detect_architecture(folder)
    record = _train_record(folder)
    if record is None:
        return EvalModel(folder.name, folder, architecture, "none", "model")
    return EvalModel(
        name=str(record.get("name") or folder.name),
        path=folder,
        architecture=architecture,
        wrapper=str(record.get("wrapper") or "none"),
        role="student",
        base_name=str(record.get("base") or "") or None,
    )


def base_of(student: EvalModel) -> EvalModel | None:
    """The base model of a student, resolved without any download (``None`` if unknown)."""
    if student.role != "student" or not student.base_name:
        return None
    base = resolve_base(student.base_name, student.architecture)
    name = Path(base.name).name or base.name
    if base.path.resolve() == (student.path / INIT_FOLDER).resolve():
        name = f"{student.name} pruned"  # its own cut of the teacher, before training
    return EvalModel(
        name=f"{name} (base)",
        path=base.path,
        architecture=base.architecture,
        wrapper=student.wrapper,
        role="base",
        base_of=student.name,
    )


def collect_models(folders: list[Path], with_bases: bool = True) -> list[EvalModel]:
    """Students (and, with ``with_bases``, each distinct base/wrapper pair once).

    Raises:
        HerdsmanError: A folder is missing or not a model folder.
    """
    models = [model_from_dir(folder) for folder in folders]
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise HerdsmanError(f"two models are both named {dupes[0]!r}: pass each folder once")
    if not with_bases:
        return models
    seen = {(m.path.resolve(), m.wrapper) for m in models}
    out = list(models)
    for model in models:
        base = base_of(model)
        if base is None or (base.path.resolve(), base.wrapper) in seen:
            continue
        seen.add((base.path.resolve(), base.wrapper))
        if base.name in {m.name for m in out}:
            base = EvalModel(**{**asdict(base), "name": f"{base.name} [{base.wrapper}]"})
        out.append(base)
    return out
