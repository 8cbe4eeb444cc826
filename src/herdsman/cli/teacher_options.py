"""The teacher option block of every command that calls a teacher, derived from the backends.

``respond``, ``generate``, ``judge`` and ``select`` take the same block
(``--teacher``, ``--model``, ``--base-url``, ...). It is not declared here:
:class:`TeacherGroup` builds one option per setting of every backend's
settings model (:mod:`herdsman.teachers.registry`), under the setting's own
name unless the model gives it another (``--teacher`` for ``backend``,
``--timeout`` for ``timeout_s``), and validates what the user gave against
the chosen backend's model. A setting of another backend is refused in one
line (``--concurrency: not a setting of the local teacher``), never ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from herdsman.cli.section_options import Flag, SectionSpec, build_section, section_flags
from herdsman.errors import HerdsmanError
from herdsman.teachers.options import TeacherOptions


@dataclass(frozen=True)
class TeacherGroup:
    """The teacher option block as an option group (see :func:`with_section`)."""

    param: str = "teacher_options"

    def flags(self) -> list[Flag]:
        """One option per setting of any backend; each names the backends that have it."""
        from herdsman.teachers.registry import options_models

        merged: dict[str, Flag] = {}
        owners: dict[str, list[str]] = {}
        for backend, model in options_models().items():
            for flag in section_flags(SectionSpec(model, self.param)):
                merged.setdefault(flag.param, flag)
                owners.setdefault(flag.param, []).append(backend)
        out = []
        for param, flag in merged.items():
            who = owners[param]
            if flag.path == ("backend",):
                help_text = TeacherOptions.model_fields["backend"].description or ""
                flag = replace(flag, metavar="|".join(owners[param]), help=help_text)
            elif len(who) < len(options_models()):
                flag = replace(flag, help=f"{flag.help} ({', '.join(who)} only)")
            out.append(flag)
        return out

    def build(self, given: Mapping[str, Any], flags: list[Flag]) -> TeacherOptions:
        """The chosen backend's validated settings.

        Raises:
            HerdsmanError: An unknown backend, another backend's setting, or a bad value;
                the message names the flag.
        """
        from herdsman.teachers.registry import BACKENDS, backend_names, options_model

        by_param = {f.param: f for f in flags}
        backend_flag = next(f for f in flags if f.path == ("backend",))
        backend = given.get(backend_flag.param) or "local"
        if backend not in BACKENDS:
            raise HerdsmanError(
                f"{backend_flag.flag}: unknown backend '{backend}' ({backend_names()})"
            )
        model = options_model(backend)
        for param, value in given.items():
            flag = by_param[param]
            if value not in (None, []) and flag.path[0] not in model.model_fields:
                raise HerdsmanError(f"{flag.flag}: not a setting of the {backend} teacher")
        mine = [f for f in flags if f.path[0] in model.model_fields]
        options = build_section(
            SectionSpec(model, self.param), {f.param: given.get(f.param) for f in mine}, mine
        )
        assert isinstance(options, TeacherOptions)
        return options


def teacher_group() -> TeacherGroup:
    """The teacher option block for :func:`~herdsman.cli.section_options.with_section`."""
    return TeacherGroup()
