"""The README and docs/ list the same commands and stages as the code.

The commands are read from the real click command tree that typer builds, the
stages from ``STAGE_NAMES`` (the only place that knows their order). A command
or stage added, renamed or removed without the documentation following fails
here, naming what is missing or stale.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer

from herdsman.cli.app import app
from herdsman.cli.main import main as _main  # noqa: F401  (registers every command)
from herdsman.pipeline.order import STAGE_NAMES
from tests.helpers.data import CHECKOUT

README = CHECKOUT / "README.md"
COMMANDS_MD = CHECKOUT / "docs" / "commands.md"
ARCHITECTURE_MD = CHECKOUT / "docs" / "architecture.md"
NUMBER_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
)  # fmt: skip


def is_group(command: Any) -> bool:
    """A command with subcommands (typer may ship its own click: no isinstance check)."""
    return hasattr(command, "commands")


@cache
def command_tree() -> dict[str, Any]:
    """Every command by its path (``run``, ``rate``, ``rate serve``), groups included."""
    root = typer.main.get_command(app)
    assert is_group(root)
    found: dict[str, Any] = {}

    def walk(group: Any, prefix: str) -> None:
        for name, command in group.commands.items():
            found[prefix + name] = command
            if is_group(command):
                walk(command, f"{prefix}{name} ")

    walk(root, "")
    return found


def top_level() -> set[str]:
    """The commands of ``herdsman --help`` (a group counts once)."""
    return {path for path in command_tree() if " " not in path}


def doc_files() -> list[Path]:
    return [README, *sorted((CHECKOUT / "docs").glob("*.md"))]


#: A command line as the docs write one: ``herdsman`` first on the line (after a prompt,
#: environment variables or ``&&``) or run as a module (``-m herdsman``), then the root
#: options, then the command and, for a group, its subcommand.
INVOCATION = re.compile(
    r"(?:^[ \t]*(?:\$[ \t]*)?(?:[A-Za-z_]+=\S*[ \t]+)*|&&[ \t]*|-m[ \t]+)herdsman"
    r"(?:[ \t]+--debug|[ \t]+--hub[ =]\S+)*[ \t]+([a-z][a-z-]*)(?:[ \t]+([a-z][a-z-]*))?",
    re.M,
)


def code_lines(markdown: str) -> str:
    """The fenced blocks' lines (comments cut) and the inline code spans, one per line."""
    fence = r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```"  # fenced blocks, also indented in a list
    blocks = re.findall(fence, markdown, re.M | re.S)
    prose = re.sub(fence, "", markdown, flags=re.M | re.S)
    spans = re.findall(r"`([^`\n]+)`", prose.replace("\n", " "))
    lines = [re.sub(r"(^|\s)#.*$", "", line) for block in blocks for line in block.splitlines()]
    return "\n".join([*lines, *spans])


def mentioned_commands(markdown: str) -> set[str]:
    """Command paths the docs show being run: ``herdsman NAME`` (``herdsman GROUP SUB``)."""
    groups = {p for p, c in command_tree().items() if is_group(c)}
    found = set()
    for first, second in INVOCATION.findall(code_lines(markdown)):
        found.add(f"{first} {second}" if first in groups and second else first)
    return found


def section(markdown: str, heading: str) -> str:
    """The text under a ``##`` heading, up to the next heading of that level or above."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^##? |\Z)", markdown, re.M | re.S)
    assert match, f"no '## {heading}' section"
    return match.group(1)


def first_column(table_text: str) -> list[str]:
    """The backquoted first cells of a Markdown table (header and rule rows skipped)."""
    return re.findall(r"^\|\s*`([^`]+)`\s*\|", table_text, re.M)


# --- commands ---------------------------------------------------------------------


@pytest.mark.parametrize("doc", doc_files(), ids=lambda p: p.name)
def test_every_command_the_docs_name_exists(doc: Path) -> None:
    stale = mentioned_commands(doc.read_text(encoding="utf-8")) - set(command_tree())
    assert not stale, f"{doc.name} names commands herdsman does not have: {sorted(stale)}"


def test_every_command_has_a_section_in_the_command_reference() -> None:
    text = COMMANDS_MD.read_text(encoding="utf-8")
    headings = set(re.findall(r"^### `herdsman ([a-z][a-z-]*)`", text, re.M))
    assert headings == top_level(), (
        f"docs/commands.md: no section for {sorted(top_level() - headings)}; "
        f"sections of no command: {sorted(headings - top_level())}"
    )
    missing = set(command_tree()) - mentioned_commands(text)
    assert not missing, f"docs/commands.md never shows {sorted(missing)}"


def test_the_command_index_lists_every_command() -> None:
    text = COMMANDS_MD.read_text(encoding="utf-8")
    index = re.search(r"^Commands: (.*?)\n\n", text, re.M | re.S)
    assert index, "docs/commands.md: no 'Commands:' index"
    listed = re.findall(r"\[`([a-z][a-z-]*)`\]\(#herdsman-([a-z][a-z-]*)\)", index.group(1))
    assert all(name == anchor for name, anchor in listed), listed
    names = [name for name, _ in listed]
    assert len(names) == len(set(names)), f"listed twice: {names}"
    assert set(names) == top_level(), (
        f"docs/commands.md index: missing {sorted(top_level() - set(names))}, "
        f"stale {sorted(set(names) - top_level())}"
    )


def test_the_readme_tour_shows_every_command() -> None:
    tour = section(README.read_text(encoding="utf-8"), "A tour of the commands")
    shown = mentioned_commands(tour)
    missing = top_level() - {c.split()[0] for c in shown}
    assert not missing, f"README.md 'A tour of the commands' lacks {sorted(missing)}"


@pytest.mark.parametrize("path", sorted(command_tree()))
def test_every_command_help_has_examples(path: str) -> None:
    command = command_tree()[path]
    if is_group(command):
        return  # a group's help lists its commands; each of them has examples
    assert "Example" in (command.help or ""), f"herdsman {path} --help shows no example"
    assert f"herdsman {path}" in (command.help or ""), f"herdsman {path}: examples of another"


# --- stages -----------------------------------------------------------------------


@pytest.mark.parametrize("doc", [README, ARCHITECTURE_MD], ids=lambda p: p.name)
def test_the_stage_table_follows_the_order(doc: Path) -> None:
    rows = first_column(section(doc.read_text(encoding="utf-8"), "The stages"))
    assert tuple(rows) == STAGE_NAMES, f"{doc.name} stage table: {rows}"


def test_the_architecture_counts_the_stages() -> None:
    text = ARCHITECTURE_MD.read_text(encoding="utf-8")
    count = NUMBER_WORDS[len(STAGE_NAMES)]
    said = re.findall(r"\bpipeline of (\w+) stages", text)
    assert said == [count], f"docs/architecture.md says {said} stages; there are {count}"
    modules = re.findall(r"\ball (\w+) modules of\s+`herdsman\.pipeline\.stages`", text)
    assert modules == [count], f"docs/architecture.md: {modules} stage modules; there are {count}"


def test_the_data_flow_diagram_shows_every_stage_in_order() -> None:
    flow = section(ARCHITECTURE_MD.read_text(encoding="utf-8"), "The data flow")
    diagram = re.search(r"^```\n(.*?)^```", flow, re.M | re.S)
    assert diagram, "docs/architecture.md: no data flow diagram"
    nodes = re.findall(r"([\w-]+) ─+▶", diagram.group(1))  # a stage is drawn as 'name ──▶'
    assert tuple(n for n in nodes if n in STAGE_NAMES) == STAGE_NAMES, nodes
    assert not {n for n in nodes if n not in STAGE_NAMES} - {"files", "dump", "sqlite"}, nodes


def test_the_run_reference_lists_the_stages_in_order() -> None:
    text = " ".join(COMMANDS_MD.read_text(encoding="utf-8").split())
    listed = re.search(r"Runs the stages ((?:`[a-z_]+`,? )+)in that order", text)
    assert listed, "docs/commands.md: no 'Runs the stages ... in that order'"
    assert tuple(re.findall(r"`([a-z_]+)`", listed.group(1))) == STAGE_NAMES
