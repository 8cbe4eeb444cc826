"""docs/gpu.md and its config cannot drift from the code.

The example config (``examples/lamini-gpu.yaml``) and every YAML fragment of
the page validate against the real config models (the hub ids in them are not
looked up: no model is cached and no network is reached in tests); every
``herdsman`` command line of the page parses against the real command line;
the Makefile's ``gpu`` target holds the torch pin of the venv and the vLLM
release the page names.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from herdsman.cli.main import app
from herdsman.config import PipelineConfig
from herdsman.errors import HerdsmanError
from herdsman.pipeline.order import STAGE_NAMES
from herdsman.teachers.openai_http import OpenAIOptions
from herdsman.teachers.vllm_offline import VLLMOptions
from tests.helpers.data import CHECKOUT

DOC = CHECKOUT / "docs" / "gpu.md"
EXAMPLE = CHECKOUT / "examples" / "lamini-gpu.yaml"
MAKEFILE = CHECKOUT / "Makefile"
#: Modules that ``python -m`` turns into the herdsman command line.
ENTRY_MODULES = ("herdsman", "herdsman.cli.main")


def fenced_blocks(text: str, language: str) -> list[str]:
    """The bodies of the page's fenced code blocks of one language (indented ones too)."""
    pattern = re.compile(rf"^([ \t]*)```{language}\n(.*?)^\1```", re.M | re.S)
    blocks = []
    for match in pattern.finditer(text):
        indent = len(match.group(1))
        blocks.append("\n".join(line[indent:] for line in match.group(2).splitlines()))
    return blocks


def command_lines(block: str) -> Iterator[str]:
    """A shell block's command lines, backslash continuations joined."""
    yield from (line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip())


def herdsman_args(line: str) -> list[str] | None:
    """The herdsman arguments of one shell line, or ``None`` when it runs something else.

    Recognised: ``herdsman ...`` (any path to it, after ``VAR=value`` assignments) and
    ``... -m herdsman ...`` / ``... -m herdsman.cli.main ...`` (``accelerate launch``,
    ``torchrun``, ``python``).
    """
    words = shlex.split(line, comments=True)
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", words[0]):
        words = words[1:]
    if not words:
        return None
    if Path(words[0]).name == "herdsman":
        return words[1:]
    for i, word in enumerate(words[:-1]):
        if word == "-m" and words[i + 1] in ENTRY_MODULES:
            return words[i + 2 :]
    return None


def parse(args: list[str]) -> list[str]:
    """Parse a herdsman command line as the real CLI does, without running the command.

    Click parses the options and arguments; the options a command takes from a
    config section are then validated by that section, as the command does
    before its work (``cli/section_options.py``).

    Returns:
        The command path, e.g. ``["rate", "serve"]``.

    Raises:
        typer.TyperException: An unknown command or option, a missing argument, a bad value.
        HerdsmanError: A value its config section refuses.
    """
    command: Any = typer.main.get_command(app)
    ctx = command.make_context("herdsman", list(args))
    path: list[str] = []
    while hasattr(command, "resolve_command"):  # a group: descend into its subcommand
        rest = [*ctx._protected_args, *ctx.args]
        if not rest:
            break
        name, command, sub = command.resolve_command(ctx, rest)
        path.append(name)
        ctx = command.make_context(name, sub, parent=ctx)
    for spec in getattr(command.callback, "__section_specs__", ()):
        flags = spec.flags()
        spec.build({f.param: ctx.params[f.param] for f in flags}, flags)
    return path


def doc_commands() -> list[list[str]]:
    """Every herdsman command line in the page's shell blocks."""
    found = []
    for block in fenced_blocks(DOC.read_text(encoding="utf-8"), "bash"):
        for line in command_lines(block):
            args = herdsman_args(line)
            if args is not None:
                found.append(args)
    return found


def load_example() -> dict[str, Any]:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_example_config_validates_with_hub_ids_and_a_vllm_teacher() -> None:
    config = PipelineConfig.model_validate(load_example())
    assert config.hub == "online"
    assert isinstance(config.teacher, VLLMOptions)
    hub_id = re.compile(r"[\w.-]+/[\w.-]+")
    assert config.teacher.model and hub_id.fullmatch(config.teacher.model)
    assert len(config.students) >= 3
    architectures = set()
    for student in config.students:
        assert hub_id.fullmatch(student.base), student.base
        assert not (EXAMPLE.parent / student.base).exists()  # a hub id, not a folder
        assert student.report_to == ["tensorboard"]
        architectures.add("t5" in student.base)
    assert architectures == {True, False}  # an encoder-decoder and decoder-only students


def test_a_bad_key_in_the_example_would_fail() -> None:
    data = load_example()
    data["teacher"]["engine_args"]["no_such_engine_arg"] = 1
    with pytest.raises(ValueError, match="no_such_engine_arg"):
        PipelineConfig.model_validate(data)


def test_every_yaml_fragment_of_the_page_validates_over_the_example() -> None:
    blocks = fenced_blocks(DOC.read_text(encoding="utf-8"), "yaml")
    assert blocks, "the page shows the server teacher's section"
    teachers = []
    for block in blocks:
        fragment = yaml.safe_load(block)
        assert isinstance(fragment, dict), block
        merged = {**load_example(), **fragment}  # a fragment replaces whole sections
        teachers.append(PipelineConfig.model_validate(merged).teacher)
    server = [t for t in teachers if isinstance(t, OpenAIOptions)]
    assert server, "the page shows a vLLM server used through the openai backend"
    assert all(t.model == load_example()["teacher"]["model"] for t in server)
    assert all(t.base_url.startswith("http://127.0.0.1:") for t in server)


def test_every_herdsman_command_of_the_page_parses() -> None:
    commands = doc_commands()
    assert len(commands) >= 6, commands  # the extraction itself works
    used = set()
    for args in commands:
        try:
            used.add(" ".join(parse(args)))
        except (typer.TyperException, HerdsmanError) as exc:  # the failure's message
            pytest.fail(f"docs/gpu.md: `herdsman {shlex.join(args)}`: {exc}")
    assert {"run", "train", "eval"} <= used
    # `run --stage NAME` takes any text on the command line and checks it when it runs.
    stages = [args[i + 1] for args in commands for i, a in enumerate(args[:-1]) if a == "--stage"]
    assert stages and set(stages) <= set(STAGE_NAMES), stages


@pytest.mark.parametrize(
    "line",
    [
        "herdsman run lamini-gpu.yaml --no-such-flag",
        "herdsman trian lamini-gpu.yaml",
        "accelerate launch -m herdsman train --base x --data d -o o --epochs many",
        "herdsman run",
    ],
)
def test_a_line_the_cli_does_not_take_fails_to_parse(line: str) -> None:
    args = herdsman_args(line)
    assert args is not None
    with pytest.raises((typer.TyperException, HerdsmanError)):
        parse(args)


def test_lines_that_run_something_else_are_not_taken_for_herdsman() -> None:
    assert herdsman_args("git clone <your herdsman checkout> herdsman") is None
    assert herdsman_args(".venv/bin/hf download meta-llama/Llama-3.2-1B") is None
    assert herdsman_args("CUDA_VISIBLE_DEVICES=0 .venv/bin/herdsman run x.yaml  # one GPU") == [
        "run",
        "x.yaml",
    ]
    assert herdsman_args("torchrun --nproc_per_node 2 -m herdsman.cli.main train c.yaml") == [
        "train",
        "c.yaml",
    ]


def test_the_page_links_files_that_exist() -> None:
    text = DOC.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
        assert (DOC.parent / target).exists(), target
    assert "examples/lamini-gpu.yaml" in text


def test_the_gpu_target_keeps_the_venv_torch_pin_and_the_vllm_the_page_names() -> None:
    makefile = MAKEFILE.read_text(encoding="utf-8")
    venv_pin = re.search(r"pip install --quiet (torch==[\d.]+)\n", makefile)
    gpu_pin = re.search(r"^GPU_TORCH\s*:=\s*(torch==[\d.]+)\s*$", makefile, re.M)
    vllm = re.search(r"^VLLM\s*\?=\s*vllm==([\d.]+)\s*$", makefile, re.M)
    assert venv_pin and gpu_pin and vllm
    assert gpu_pin.group(1) == venv_pin.group(1)
    text = DOC.read_text(encoding="utf-8")
    assert f"vLLM {vllm.group(1)}" in text
    assert f"`{gpu_pin.group(1)}`" in text
    torch_version = gpu_pin.group(1).split("==")[1]
    row = re.search(rf"^\| \*\*{re.escape(vllm.group(1))}\*\* \| \*\*`==([\d.]+)`\*\*", text, re.M)
    assert row and row.group(1) == torch_version  # the table's chosen row pins the same torch


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_n_gpu_prints_the_install_commands() -> None:
    result = subprocess.run(
        ["make", "-n", "gpu"], cwd=CHECKOUT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "pip install vllm==" in out and "torch==2.13.0" in out
    assert "pip install --no-build-isolation flash-attn" in out
    assert "torch.version.cuda" in out  # the CPU-build check before vLLM goes in
    skipped = subprocess.run(
        ["make", "-n", "gpu", "FLASH_ATTN="],
        cwd=CHECKOUT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert skipped.returncode == 0 and "flash-attn" not in skipped.stdout
