"""Before any stage runs: the config's hub mode takes effect, and every model reference is checked.

A run that would fail at its tenth stage because a student's base is
misspelt fails before the first instead, in one line naming the file, the key
and what was searched. The references are those of :mod:`herdsman.io.model_refs`:
the teacher's ``model`` (local and vllm backends), each student's ``base`` and
``teacher_model``, and ``select.scorer``. A folder becomes its absolute path
(relative to the config, whatever the working directory), so every later
step (training, the base's evaluation, the model card) names the same folder;
a hub id stays an id, found in the Hugging Face cache. Nothing is downloaded
here: with ``hub: online`` an id missing from the cache is only looked up on
the hub, and downloaded when a stage first uses it.
"""

from __future__ import annotations

from typing import Any

from herdsman.config import LoadedConfig
from herdsman.embedded import EMBEDDED_MODELS
from herdsman.errors import HerdsmanError, InputError
from herdsman.io.hub import apply_config_hub
from herdsman.io.model_refs import BESIDE_CONFIG, resolve_model_ref


def prepare_run(loaded: LoadedConfig) -> LoadedConfig:
    """The config with its hub mode in force and its model references checked and resolved.

    The command line's ``--hub`` (``HERDSMAN_HUB``) wins over the config's ``hub:``.

    Raises:
        InputError: A reference that is no folder, not cached and may not or cannot
            be downloaded, as ``CONFIG: students[1].base: ...``.
    """
    apply_config_hub(loaded.config.hub)
    return resolve_references(loaded)


def resolve_references(loaded: LoadedConfig) -> LoadedConfig:
    """The config with every model reference checked, and folders made absolute.

    Raises:
        InputError: Naming the config file and the key of the first bad reference.
    """
    from herdsman.train.bases import STUDENT_ALIASES

    config = loaded.config
    update: dict[str, Any] = {}
    teacher = config.teacher
    model = teacher.model
    if teacher.backend in ("local", "vllm") and model and model not in EMBEDDED_MODELS:
        model = _reference(loaded, "teacher.model", model)
        update["teacher"] = teacher.model_copy(update={"model": model})
    students = []
    for i, student in enumerate(config.students):
        changes = {}
        for key in ("base", "teacher_model"):
            value = getattr(student, key)
            if value and value not in STUDENT_ALIASES:
                changes[key] = _reference(loaded, f"students[{i}].{key}", value)
        students.append(student.model_copy(update=changes))
    update["students"] = students
    scorer = config.select.scorer
    if config.select.enabled and scorer and scorer not in STUDENT_ALIASES:
        scorer = _reference(loaded, "select.scorer", scorer)
        update["select"] = config.select.model_copy(update={"scorer": scorer})
    return loaded.model_copy(update={"config": config.model_copy(update=update)})


def _reference(loaded: LoadedConfig, key: str, value: str) -> str:
    """A reference as the stages use it: the absolute folder, or the hub id."""
    try:
        ref = resolve_model_ref(value, loaded.base, where=BESIDE_CONFIG, download=False)
    except HerdsmanError as exc:
        raise InputError(str(loaded.path), None, f"{key}: {exc}") from None
    return ref.hub_id or str(ref.path)
