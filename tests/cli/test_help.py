from __future__ import annotations

import pytest

from tests.conftest import assert_one_line_error, run_cli


@pytest.mark.parametrize("command", ["seeds", "respond", "demo"])
def test_every_command_has_help_with_examples(command: str) -> None:
    result = run_cli(command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Example" in result.stdout and f"herdsman {command}" in result.stdout


def test_top_level_help_lists_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("seeds", "respond", "demo"):
        assert command in result.stdout


def test_respond_help_documents_teacher_options() -> None:
    out = run_cli("respond", "--help").stdout
    for option in (
        "--teacher",
        "--model",
        "--base-url",
        "--api-key-env",
        "--concurrency",
        "--max-tokens",
        "--temperature",
        "--rpm",
        "--tpm",
        "--prices",
        "--skip-bad",
    ):
        assert option in out, option


def test_bad_option_value_is_a_usage_error() -> None:
    result = run_cli("respond", "x.jsonl", "-o", "y.jsonl", "--concurrency", "0")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_price_file_errors_are_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "in.jsonl"
    src.write_text('{"instruction": "x"}\n')
    prices = tmp_path / "prices.yaml"
    prices.write_text("gpt-4o-mini: 3\n")
    result = run_cli(
        "respond", str(src), "-o", str(tmp_path / "o.jsonl"), "--teacher", "openai", "--model", "m",
        "--base-url", "http://127.0.0.1:9/v1", "--prices", str(prices),
    )  # fmt: skip
    assert_one_line_error(result, "prices.yaml", "gpt-4o-mini")
