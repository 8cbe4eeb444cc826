"""The layout's rules: import-linter contracts, one stage order, a repository that explains itself."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from herdsman.pipeline.order import STAGE_NAMES, stages
from tests.helpers.data import CHECKOUT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the package under ``root/src`` with the project's contracts."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_import_contracts_hold() -> None:
    result = _lint(CHECKOUT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import"),
    [
        ("train/herd.py", "from herdsman.teachers.factory import build_teacher"),
        ("generation/dedup.py", "from herdsman.train.wrappers import wrap"),
        ("rating/db.py", "from herdsman.train.bases import resolve_base"),
        ("io/jsonl.py", "from herdsman.generation.parse import parse_instructions"),
        ("evaluate/judge.py", "from herdsman.pipeline.order import STAGE_NAMES"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(tmp_path: Path, module: str, bad_import: str) -> None:
    copy = tmp_path / "checkout"
    shutil.copytree(CHECKOUT / "src", copy / "src", ignore=shutil.ignore_patterns("*.egg-info"))
    shutil.copy(CHECKOUT / "pyproject.toml", copy / "pyproject.toml")
    target = copy / "src" / "herdsman" / module
    target.write_text(target.read_text() + f"\n{bad_import}  # noqa\n")
    result = _lint(copy)
    assert result.returncode != 0 and "BROKEN" in result.stdout, result.stdout[-2000:]


def test_stage_modules_match_the_order() -> None:
    assert tuple(s.name for s in stages()) == STAGE_NAMES
    folder = CHECKOUT / "src" / "herdsman" / "pipeline" / "stages"
    assert {p.stem for p in folder.glob("*.py")} - {"__init__"} == set(STAGE_NAMES)


def test_readme_stage_table_follows_the_order() -> None:
    readme = (CHECKOUT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\|\s*`([a-z_]+)`\s*\|", readme, re.M)
    assert tuple(r for r in rows if r in STAGE_NAMES) == STAGE_NAMES


def test_run_help_lists_every_stage() -> None:
    from tests.conftest import run_cli

    help_text = " ".join(run_cli("run", "--help").stdout.split())
    assert ", ".join(STAGE_NAMES) in help_text


def test_the_repository_refers_to_nothing_outside_it() -> None:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=CHECKOUT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    pattern = re.compile(r"DESIGN\.md|\.\./shared|this (?:VM|machine)\b|GPU was lent")
    offenders = []
    for name in files:
        path = CHECKOUT / name
        if name == "tests/test_layout.py" or not path.is_file() or path.suffix in {".png", ".gguf"}:
            continue
        for n, line in enumerate(
            path.read_text(encoding="utf-8", errors="replace").splitlines(), 1
        ):
            if pattern.search(line):
                offenders.append(f"{name}:{n}: {line.strip()[:100]}")
    assert not offenders, "\n".join(offenders)
