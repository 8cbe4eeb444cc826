"""``bundled:NAME`` names a file shipped in the package, and nothing outside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from herdsman.errors import HerdsmanError
from herdsman.io.bundled import bundled_file, data_dir
from tests.conftest import assert_one_line_error, run_cli


def test_shipped_files_resolve() -> None:
    assert bundled_file("demo.yaml").is_file()
    assert bundled_file("eval").is_dir()


@pytest.mark.parametrize("name", ["../../../../etc/passwd", "/etc/passwd", "eval/../../errors.py"])
def test_paths_leaving_the_data_folder_are_refused(name: str) -> None:
    with pytest.raises(HerdsmanError, match="not a file shipped with herdsman"):
        bundled_file(name)
    assert data_dir().is_dir()


def test_a_config_naming_one_gets_a_one_line_error(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("seeds:\n  - path: bundled:../../../../etc/passwd\n    format: jsonl\n")
    assert_one_line_error(
        run_cli("run", str(config), "--dry-run"),
        f"{config}:2",
        "seeds[0].path",
        "not a file shipped",
    )
