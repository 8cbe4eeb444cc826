"""The ``herdsman`` Typer application and what every command shares.

Command modules (:mod:`herdsman.cli.generation`, :mod:`herdsman.cli.run`, ...)
register on :data:`app`; :mod:`herdsman.cli.main` imports them all. Stage
modules (pydantic, transformers, ...) are imported inside the commands that
need them, so ``herdsman topics`` or ``--help`` starts quickly.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from herdsman.console import error_line
from herdsman.errors import HerdsmanError
from herdsman.io.hub import HUB_ENV, HubMode, describe_hub_error, set_hub_mode

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
EXIT_INTERRUPTED = 130
SEED_FORMATS = "auto, self-instruct, alpaca, p3, flan, jsonl"
#: Set (to 1) by ``--debug``: errors that are not herdsman's own show their traceback.
DEBUG_ENV = "HERDSMAN_DEBUG"

_OS_HINTS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on the device (disk full)",
    errno.EDQUOT: "disk quota exceeded",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "already exists",
    errno.ENAMETOOLONG: "file name too long",
}


def debugging() -> bool:
    """Whether ``--debug`` or ``HERDSMAN_DEBUG=1`` asked for tracebacks."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


@app.callback()
def _global_options(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="Show the traceback of an unexpected error (also: HERDSMAN_DEBUG=1).",
        ),
    ] = False,
    hub: Annotated[
        HubMode | None,
        typer.Option(
            "--hub",
            envvar=HUB_ENV,
            show_default=False,
            help="offline (the default): download nothing; online: hub ids download into the "
            "Hugging Face cache, lm-eval may load benchmark data, push_to_hub uploads. Wins "
            "over a config's hub key.",
        ),
    ] = None,
) -> None:
    """Distil a strong teacher model into a herd of small students (LaMini-LM as a tool)."""
    if debug:
        os.environ[DEBUG_ENV] = "1"
    if hub is not None:
        os.environ[HUB_ENV] = hub  # the command line's choice: a config's hub: does not apply
        set_hub_mode(hub)


def describe_error(exc: BaseException) -> str | None:
    """One line for an error a user causes outside herdsman's own checks, or ``None``.

    Covers the operating system's refusals (permission denied, not a folder, is a
    folder, disk full: naming the path), a file that is not a SQLite database, a
    damaged Parquet or Arrow file, text that is not UTF-8 and invalid JSON, and a
    failed talk with the Hugging Face Hub (offline, unreachable, no access).
    """
    hub = describe_hub_error(exc)
    if hub is not None:
        return hub
    if isinstance(exc, OSError) and (exc.filename is not None or exc.errno in _OS_HINTS):
        why = _OS_HINTS.get(exc.errno or -1) or exc.strerror or str(exc)
        # A rename names the temporary file first and the target second: the target is news.
        target = exc.filename2 if exc.filename2 is not None else exc.filename
        where = str(target) if target is not None else ""
        return f"{where}: {why}" if where else f"{why} ({exc})"
    if isinstance(exc, sqlite3.DatabaseError):
        return f"database error: {exc} (is the file a SQLite database?)"
    if isinstance(exc, UnicodeDecodeError):
        return (
            f"a file is not UTF-8 text (byte {exc.start}: {exc.reason}); "
            "save it as UTF-8 and try again"
        )
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
    if type(exc).__module__.split(".")[0] == "pyarrow":
        return f"cannot read Arrow/Parquet data: {exc}"
    return None


@contextmanager
def user_errors(exit_code: int = EXIT_USER_ERROR) -> Iterator[None]:
    """Turn herdsman errors into one line and a non-zero exit; Ctrl-C into a resume hint.

    The operating system's and corrupt files' errors (see :func:`describe_error`)
    become one line too (exit 1), unless ``--debug`` or ``HERDSMAN_DEBUG=1``.

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
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Exception as exc:
        line = None if debugging() else describe_error(exc)
        if line is None:
            raise
        error_line(line)
        raise typer.Exit(EXIT_USER_ERROR) from None


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
