"""An API key goes only over HTTPS or to a loopback address unless the user says otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from herdsman.errors import HerdsmanError
from herdsman.teachers.factory import build_teacher
from herdsman.teachers.options import key_may_go_to
from herdsman.teachers.registry import teacher_options
from tests.conftest import assert_one_line_error, run_cli


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://api.openai.com/v1", True),
        ("https://10.0.0.5:8000/v1", True),
        ("http://127.0.0.1:8000/v1", True),
        ("http://127.8.9.1/v1", True),
        ("http://localhost:8000/v1", True),
        ("http://[::1]:8000/v1", True),
        ("http://somewhere.example/v1", False),
        ("http://10.0.0.5:8000/v1", False),
        ("http://127.0.0.1.example.com/v1", False),
        ("ftp://127.0.0.1/v1", True),  # loopback whatever the scheme
        ("not a url", False),
    ],
)
def test_where_a_key_may_go(url: str, ok: bool) -> None:
    assert key_may_go_to(url) is ok


def test_a_key_to_plain_http_is_refused_unless_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-for-you")
    options = teacher_options(
        backend="openai", model="m", base_url="http://somewhere.example/v1",
        api_key_env="AWS_SECRET_ACCESS_KEY",
    )  # fmt: skip
    with pytest.raises(HerdsmanError, match=r"refusing to send the API key in \$AWS_SECRET"):
        build_teacher(options)
    allowed = build_teacher(options.model_copy(update={"allow_insecure_key": True}))
    allowed.close()
    # No key in the environment: nothing secret is sent, nothing to refuse.
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    build_teacher(options).close()


def test_cli_and_dry_run_say_where_the_key_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"instruction": "Say hi."}\n')
    env = {"MY_KEY": "secret-value"}
    refused = run_cli(
        "respond", str(src), "-o", str(tmp_path / "o.jsonl"), "--teacher", "openai",
        "--model", "m", "--base-url", "http://somewhere.example/v1", "--api-key-env", "MY_KEY",
        env=env,
    )  # fmt: skip
    assert_one_line_error(
        refused, "refusing to send the API key in $MY_KEY", "--allow-insecure-key"
    )
    assert "secret-value" not in refused.stdout + refused.stderr
    config = tmp_path / "c.yaml"
    config.write_text(
        "seeds:\n  - path: in.jsonl\n    format: jsonl\n"
        "teacher:\n  backend: openai\n  model: m\n  base_url: http://somewhere.example/v1\n"
        "  api_key_env: MY_KEY\n"
    )
    plan = run_cli("run", str(config), "--dry-run", env=env)
    text = " ".join((plan.stdout + plan.stderr).split())
    assert plan.returncode == 0, plan.stderr
    assert "the API key in $MY_KEY goes to http://somewhere.example/v1" in text
    assert "the run will refuse this key" in text and "secret-value" not in text
