"""``herdsman --hub``, a config's ``hub:`` and the model references, as a user meets them.

Every command runs in its own process with its own Hugging Face cache (a real
cache folder holding ``acme/tiny``) and, when online, the hub at a loopback
port nothing listens on: nothing goes over the network, and nothing trains.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error
from tests.helpers.hub_cache import closed_port, fake_hub_cache, hub_env

CONFIG = """\
run_dir: run
{hub}seeds:
  - path: bundled:demo_seed_tasks.jsonl
    format: self-instruct
teacher:
  backend: local
  model: acme/tiny
dataset:
  push_to_hub: {dataset_push}
students:
  - name: from-the-hub
    base: acme/tiny
  - name: beside-the-config
    base: {base}
    push_to_hub: {student_push}
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A Hugging Face home whose cache holds acme/tiny; a config folder with models/x."""
    snapshot = fake_hub_cache(tmp_path / "hf" / "hub", "acme/tiny")
    (tmp_path / "project" / "models").mkdir(parents=True)
    (tmp_path / "project" / "models" / "x").symlink_to(snapshot, target_is_directory=True)
    (tmp_path / "elsewhere").mkdir()
    return tmp_path / "hf"


def config(
    tmp_path: Path,
    base: str = "models/x",
    hub: str = "",
    dataset_push: str = "null",
    student_push: str = "null",
) -> Path:
    path = tmp_path / "project" / "run.yaml"
    path.write_text(
        CONFIG.format(
            hub=f"hub: {hub}\n" if hub else "",
            base=base,
            dataset_push=dataset_push,
            student_push=student_push,
        )
    )
    return path


def herdsman(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``herdsman ARGS`` from another working directory than the config's, offline unless told."""
    clean = {k: v for k, v in os.environ.items() if k not in ("HERDSMAN_HUB", "HF_TOKEN")}
    full = {**clean, **hub_env(home), "HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}", **env}
    return subprocess.run(
        [sys.executable, "-m", "herdsman", *args],
        capture_output=True,
        text=True,
        env=full,
        cwd=home.parent / "elsewhere",
        timeout=300,
        check=False,
    )


def test_hub_ids_and_a_folder_beside_the_config_pass_from_another_directory(
    home: Path, tmp_path: Path
) -> None:
    result = herdsman(home, "run", str(config(tmp_path)), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "teacher: local acme/tiny" in result.stdout + result.stderr


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "run"])
def test_an_unknown_id_is_refused_before_any_stage(
    home: Path, tmp_path: Path, dry_run: bool
) -> None:
    path = config(tmp_path, base="org/missing")
    result = herdsman(home, "run", str(path), *(["--dry-run"] if dry_run else []))
    assert_one_line_error(
        result,
        f"{path}: students[1].base: 'org/missing' is not a local folder beside the config, "
        f"not in the local Hugging Face cache ({home / 'hub'}), and hub: offline forbids "
        "downloading it",
    )
    assert not (tmp_path / "project" / "run").exists()  # no stage ran, nothing was written


def test_online_without_network_is_one_line(home: Path, tmp_path: Path) -> None:
    path = config(tmp_path, base="org/missing")
    for args, env in (
        (["--hub", "online", "run", str(path), "--dry-run"], {}),
        (["run", str(path), "--dry-run"], {"HERDSMAN_HUB": "online"}),
    ):
        result = herdsman(home, *args, **env)
        assert_one_line_error(
            result,
            "students[1].base: 'org/missing'",
            "looking it up on the hub failed: cannot reach http://127.0.0.1:",
        )


def test_the_command_line_wins_over_the_config(home: Path, tmp_path: Path) -> None:
    path = config(tmp_path, base="org/missing", hub="online")
    by_config = herdsman(home, "run", str(path), "--dry-run")
    assert_one_line_error(by_config, "looking it up on the hub failed")
    by_flag = herdsman(home, "--hub", "offline", "run", str(path), "--dry-run")
    assert_one_line_error(by_flag, "hub: offline forbids downloading it")


@pytest.mark.parametrize(
    ("key", "settings"),
    [
        ("dataset.push_to_hub", {"dataset_push": "me/data"}),
        ("students[1].push_to_hub", {"student_push": "me/student"}),
    ],
)
def test_pushing_offline_or_without_a_token_is_refused_before_any_stage(
    home: Path, tmp_path: Path, key: str, settings: dict[str, str]
) -> None:
    path = config(tmp_path, **settings)
    offline = herdsman(home, "run", str(path), HF_TOKEN="hf_test")
    assert_one_line_error(offline, key, "hub is offline", "hub: online")
    no_token = herdsman(home, "--hub", "online", "run", str(path))
    assert_one_line_error(no_token, key, "$HF_TOKEN")
    assert not (tmp_path / "project" / "run" / "seeds.jsonl").exists()
