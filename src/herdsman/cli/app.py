"""The ``herdsman`` Typer application and what every command shares.

Command modules (:mod:`herdsman.cli.generation`, :mod:`herdsman.cli.run`, ...)
register on :data:`app`; :mod:`herdsman.cli.main` imports them all. Stage
modules (pydantic, transformers, ...) are imported inside the commands that
need them, so ``herdsman topics`` or ``--help`` starts quickly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from herdsman.console import error_line
from herdsman.errors import HerdsmanError

if TYPE_CHECKING:
    from herdsman.store.run_store import RunStore

app = typer.Typer(
    name="herdsman",
    help="Distil a strong teacher model into a herd of small students (LaMini-LM as a tool).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

EXIT_USER_ERROR = 1
#: A bad option value: the same code click gives a malformed command line.
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
SEED_FORMATS = "auto, self-instruct, alpaca, p3, flan, jsonl"


@contextmanager
def user_errors(exit_code: int = EXIT_USER_ERROR) -> Iterator[None]:
    """Turn herdsman errors into one line and a non-zero exit; Ctrl-C into a resume hint.

    Args:
        exit_code: The exit status of an error: :data:`EXIT_USAGE` for a refused option
            value (as click gives a malformed command line), else :data:`EXIT_USER_ERROR`.
    """
    try:
        yield
    except HerdsmanError as exc:
        error_line(str(exc))
        raise typer.Exit(exit_code) from None
    except KeyboardInterrupt:
        error_line("interrupted; finished calls are saved in the run store, re-run to resume")
        raise typer.Exit(130) from None


def default_store(out: Path) -> Path:
    """Where a command keeps its run store when ``--store`` is not given."""
    return out.resolve().parent / ".herdsman" / "store.sqlite"


def open_store(store: Path | None, out: Path, durability: str) -> RunStore:
    """The run store a command writes (``--store`` or beside ``OUT``), opened as asked.

    Raises:
        HerdsmanError: An unknown ``--durability``.
    """
    from herdsman.store.run_store import RunStore

    if durability not in ("normal", "full"):
        raise HerdsmanError(f"--durability: '{durability}' is not normal or full")
    return RunStore(store or default_store(out), durability=durability)  # type: ignore[arg-type]


@contextmanager
def store_for(store: Path | None, out: Path, durability: str) -> Iterator[RunStore]:
    """The command's run store, held by this process alone for the block.

    Two commands on one store at once would pay for the same calls twice: the
    second stops with a message naming the first (see :mod:`herdsman.io.run_lock`).
    """
    from herdsman.io.run_lock import run_lock

    path = (store or default_store(out)).resolve()
    with run_lock(path), open_store(path, out, durability) as run_store:
        yield run_store


StoreOpt = Annotated[
    Path | None,
    typer.Option("--store", help="Run store (default: OUT's folder/.herdsman/store.sqlite)."),
]
SkipBadOpt = Annotated[
    bool,
    typer.Option("--skip-bad", help="Skip malformed input lines (counted) instead of stopping."),
]
