"""Adding a backend is one module and one registry line: config and commands then know it."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator

import pytest
import typer
from typer.testing import CliRunner

from herdsman.cli.section_options import with_section
from herdsman.cli.teacher_options import TeacherGroup
from herdsman.teachers import registry
from herdsman.teachers.options import TeacherOptions

MODULE = '''
from typing import Literal
from pydantic import Field
from herdsman.teachers.options import TeacherOptions


class EchoOptions(TeacherOptions):
    """A toy backend that repeats the prompt."""

    backend: Literal["echo"] = "echo"
    prefix: str = Field("echo: ", description="Put before every answer")

    def in_flight(self) -> int:
        return 3

    def identity(self) -> dict[str, str]:
        return {"backend": "echo", "model": self.model or "", "endpoint": "echo://"}
'''


@pytest.fixture
def echo_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    module = types.ModuleType("probe_echo_backend")
    exec(MODULE, module.__dict__)  # the one module
    monkeypatch.setitem(sys.modules, "probe_echo_backend", module)
    monkeypatch.setitem(
        registry.BACKENDS, "echo", ("probe_echo_backend", "EchoOptions")
    )  # one line
    registry.teacher_union.cache_clear()
    registry._adapter.cache_clear()
    yield
    registry.teacher_union.cache_clear()
    registry._adapter.cache_clear()


def test_a_registered_backend_is_a_config_section_and_a_teacher_block(echo_backend: None) -> None:
    options = registry.parse_teacher({"backend": "echo", "prefix": ">> "})
    assert options.in_flight() == 3 and options.prefix == ">> "  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="concurrency"):
        registry.parse_teacher({"backend": "echo", "concurrency": 3})
    assert "echo" in registry.backend_names()

    seen: list[TeacherOptions] = []
    probe = typer.Typer()

    @probe.command()
    @with_section(TeacherGroup())
    def cmd(*, teacher_options: TeacherOptions) -> None:
        seen.append(teacher_options)

    runner = CliRunner()
    result = runner.invoke(probe, ["--teacher", "echo", "--prefix", "> "])
    assert result.exit_code == 0, result.output
    assert seen[-1].identity()["endpoint"] == "echo://"
    result = runner.invoke(probe, ["--teacher", "local", "--prefix", "> "])
    assert result.exit_code == 2 and "--prefix: not a setting of the local teacher" in result.output


def test_every_registered_backend_builds_its_own_settings() -> None:
    for name, model in registry.options_models().items():
        assert model.model_fields["backend"].default == name
        assert issubclass(model, TeacherOptions)
        assert model.build is not TeacherOptions.build, name
        assert model.identity is not TeacherOptions.identity, name
