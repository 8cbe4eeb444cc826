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
from typing import Annotated

import typer

from herdsman.console import error_line
from herdsman.errors import HerdsmanError

app = typer.Typer(
    name="herdsman",
    help="Distil a strong teacher model into a herd of small students (LaMini-LM as a tool).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

EXIT_USER_ERROR = 1
EXIT_INCOMPLETE = 3
SEED_FORMATS = "auto, self-instruct, alpaca, p3, flan, jsonl"


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn herdsman errors into one line and a non-zero exit; Ctrl-C into a resume hint."""
    try:
        yield
    except HerdsmanError as exc:
        error_line(str(exc))
        raise typer.Exit(EXIT_USER_ERROR) from None
    except KeyboardInterrupt:
        error_line("interrupted; finished calls are saved in the run store, re-run to resume")
        raise typer.Exit(130) from None


def default_store(out: Path) -> Path:
    """Where a command keeps its run store when ``--store`` is not given."""
    return out.resolve().parent / ".herdsman" / "store.sqlite"


StoreOpt = Annotated[
    Path | None,
    typer.Option("--store", help="Run store (default: OUT's folder/.herdsman/store.sqlite)."),
]
SkipBadOpt = Annotated[
    bool,
    typer.Option("--skip-bad", help="Skip malformed input lines (counted) instead of stopping."),
]
