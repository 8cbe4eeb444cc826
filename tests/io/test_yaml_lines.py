"""Configs are hostile input: alias bombs and self-referring aliases end in one line, fast."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from herdsman.errors import InputError
from herdsman.io.yaml_lines import load_yaml_with_lines
from tests.conftest import assert_one_line_error, run_cli

BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 10) if prev else ', '.join(['x'] * 10)}]\n"
    for prev, name in zip(["", "a", "b", "c", "d", "e", "f"], "abcdefg", strict=True)
)  # 275 bytes or so, 10 million leaves if expanded


def test_an_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    started = time.perf_counter()
    with pytest.raises(InputError, match="expands to more than"):
        load_yaml_with_lines(path)
    assert time.perf_counter() - started < 2


def test_a_self_referring_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("run_dir: x\na: &a [*a]\n")
    with pytest.raises(InputError, match=r"loop\.yaml:2: a YAML alias refers to itself"):
        load_yaml_with_lines(path)


def test_ordinary_aliases_still_work(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("base: &s {temperature: 0.0}\nrespond:\n  sampling: *s\n")
    loaded = load_yaml_with_lines(path)
    assert loaded.data["respond"]["sampling"] == {"temperature": 0.0}
    assert loaded.line_of(("respond", "sampling", "temperature")) == 1


def test_the_cli_says_it_in_one_line(tmp_path: Path) -> None:
    for name, text, needle in (("b.yaml", BOMB, "expands"), ("l.yaml", "a: &a [*a]\n", "itself")):
        path = tmp_path / name
        path.write_text(text)
        assert_one_line_error(run_cli("run", str(path), "--dry-run"), str(path), needle)
