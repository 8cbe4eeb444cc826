"""Pipeline config: validation with key and line in every error; init writes a valid config."""

from __future__ import annotations

from pathlib import Path

import pytest

from herdsman.config import load_config
from herdsman.errors import InputError
from herdsman.io.bundled import bundled_file
from tests.conftest import assert_one_line_error, require_data, run_cli

GOOD = """\
run_dir: out
seeds:
  - path: {seeds}
    format: self-instruct
    weight: 2
generate:
  strategies: {{example: 5}}
  sampling: {{temperature: 0.5, max_tokens: 100}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def good(tmp_path: Path) -> str:
    return GOOD.format(seeds=require_data("self_instruct", "seed_tasks.jsonl"))


def test_valid_config_resolves_paths_against_its_folder(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, good(tmp_path)))
    assert loaded.run_dir == tmp_path / "out"
    assert loaded.config.seeds[0].weight == 2
    assert loaded.config.generate.sampling.temperature == 0.5
    assert loaded.config.generate.sampling.top_p == 1.0  # a section's unset keys take defaults
    assert loaded.config.respond.sampling.temperature == 0.0


@pytest.mark.parametrize(
    ("edit", "line", "needle"),
    [
        (lambda t: t.replace("weight: 2", "wieght: 2"), 5, "seeds[0].wieght: unknown key"),
        (
            lambda t: t.replace("temperature: 0.5", "temperature: hot"),
            8,
            "generate.sampling.temperature",
        ),
        (lambda t: t.replace("{example: 5}", "{example: many}"), 7, "generate.strategies.example"),
        (lambda t: t + "teacher: {backend: gpt}\n", 9, "teacher.backend"),
        (lambda t: t + "studnets: []\n", 9, "studnets: unknown key"),
        (lambda t: t.replace("max_tokens: 100", "max_tokens: 0"), 8, "max_tokens"),
        (lambda t: t + "dataset: {held_out: 2}\n", 9, "dataset.held_out"),
        (lambda t: t + "generate2: 1\n", 9, "generate2"),
    ],
)
def test_bad_values_name_key_and_line(tmp_path: Path, edit, line: int, needle: str) -> None:
    path = write(tmp_path, edit(good(tmp_path)))
    with pytest.raises(InputError) as info:
        load_config(path)
    assert info.value.line == line, str(info.value)
    assert needle in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file_names_the_key(tmp_path: Path) -> None:
    text = good(tmp_path) + "topics: {dump: nowhere/category.sql.gz}\n"
    with pytest.raises(InputError) as info:
        load_config(write(tmp_path, text))
    assert "topics.dump: file not found: nowhere/category.sql.gz" in str(info.value)
    assert info.value.line == 9


def test_missing_required_section(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="seeds: required key is missing"):
        load_config(write(tmp_path, "run_dir: x\n"))


def test_topic_strategy_needs_topics(tmp_path: Path) -> None:
    text = good(tmp_path).replace("{example: 5}", "{example: 5, topic: 3}")
    with pytest.raises(InputError, match="needs a 'topics' section"):
        load_config(write(tmp_path, text))


def test_unknown_filter_is_rejected(tmp_path: Path) -> None:
    text = good(tmp_path) + "  disable_filters: [to_long]\n"
    with pytest.raises(InputError, match="unknown filter"):
        load_config(write(tmp_path, text))


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    path = write(tmp_path, good(tmp_path) + "  wave: [1, 2\n")
    with pytest.raises(InputError, match="invalid YAML") as info:
        load_config(path)
    assert info.value.line is not None


def test_empty_and_non_mapping_configs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="empty"):
        load_config(write(tmp_path, "# nothing\n"))
    with pytest.raises(InputError, match="mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))


def test_bundled_configs_are_valid() -> None:
    for name in ("demo.yaml", "example.yaml"):
        loaded = load_config(bundled_file(name))
        assert loaded.config.seeds


def test_init_writes_a_config_that_validates_and_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    result = run_cli("init", str(path))
    assert result.returncode == 0, result.stderr
    text = path.read_text()
    assert "# " in text and "dry-run" in text  # commented
    assert load_config(path).config.generate.strategies == {"example": 20, "topic": 20}
    again = run_cli("init", str(path))
    assert_one_line_error(again, "already exists")
    assert path.read_text() == text


def test_cli_reports_config_error_on_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, good(tmp_path).replace("weight: 2", "weight: -1"))
    result = run_cli("run", str(path))
    assert_one_line_error(result, f"{path}:5", "seeds[0].weight")
