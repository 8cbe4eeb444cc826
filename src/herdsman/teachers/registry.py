"""The teacher backends herdsman knows: one line each, and the union of their settings.

Each entry names the module that defines the backend: its settings model
(a :class:`~herdsman.teachers.options.TeacherOptions` subclass whose
``backend`` field is a ``Literal`` of the entry's name) and its teacher.
Adding a backend is that one module and one line here; the config's
``teacher:`` section, the commands' ``--teacher`` option block, its checks
and the dry run then know it (``docs/architecture.md`` has the checklist).
"""

from __future__ import annotations

import functools
import importlib
from typing import Annotated, Any, Union

from pydantic import Discriminator, Tag, TypeAdapter

from herdsman.teachers.options import TeacherOptions

#: backend name -> (module, settings model class name)
BACKENDS: dict[str, tuple[str, str]] = {
    "local": ("herdsman.teachers.local", "LocalOptions"),
    "openai": ("herdsman.teachers.openai_http", "OpenAIOptions"),
    "vllm": ("herdsman.teachers.vllm_offline", "VLLMOptions"),
}
#: The backend a ``teacher:`` section without ``backend:`` means.
DEFAULT_BACKEND = "local"


def options_model(backend: str) -> type[TeacherOptions]:
    """The settings model of one backend.

    Raises:
        KeyError: An unknown backend name.
    """
    module, name = BACKENDS[backend]
    model: type[TeacherOptions] = getattr(importlib.import_module(module), name)
    return model


def options_models() -> dict[str, type[TeacherOptions]]:
    """Every backend's settings model, by backend name."""
    return {name: options_model(name) for name in BACKENDS}


def _tag(value: Any) -> str:
    backend = value.get("backend") if isinstance(value, dict) else getattr(value, "backend", None)
    return str(backend or DEFAULT_BACKEND)


@functools.cache
def teacher_union() -> Any:
    """The annotated union of every backend's settings, told apart by ``backend``."""
    members = tuple(Annotated[m, Tag(n)] for n, m in options_models().items())
    return Annotated[Union[members], Discriminator(_tag)]  # noqa: UP007


@functools.cache
def _adapter() -> TypeAdapter[Any]:
    return TypeAdapter(teacher_union())


def parse_teacher(data: Any) -> TeacherOptions:
    """Validate teacher settings (a mapping, or a model) into their backend's model.

    Raises:
        pydantic.ValidationError: An unknown backend, a setting the backend does not
            have, or a value out of bounds; the error's location starts with the backend.
    """
    options: TeacherOptions = _adapter().validate_python(data)
    return options


def backend_names() -> str:
    """The known backends, for messages: ``local, openai or vllm``."""
    names = list(BACKENDS)
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]


def teacher_options(**settings: Any) -> TeacherOptions:
    """Keyword spelling of :func:`parse_teacher`: ``teacher_options(backend="vllm", window=64)``."""
    return parse_teacher(settings)
