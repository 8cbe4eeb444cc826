"""Terminal output: one-line errors, progress bars, summaries (rich)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

# Logs and pipes get wide lines, so tables are not wrapped into unreadable columns.
console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)


def error_line(message: str) -> None:
    """Print ``error: message`` on one line to stderr (no markup, no wrapping)."""
    first = " ".join(str(message).split())
    sys.stderr.write(f"error: {first}\n")
    sys.stderr.flush()


@contextmanager
def progress_bar(description: str) -> Iterator[tuple[Progress, TaskID]]:
    """A progress bar on stderr; yields ``(progress, task_id)`` (set the total later)."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    )
    with progress:
        task = progress.add_task(description, total=None)
        yield progress, task


@contextmanager
def phase_progress(description: str) -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    """One progress bar for work in phases; yields ``start(label, total)``.

    ``start`` resets the bar for a new phase and returns the function that
    advances it by a count.
    """
    with progress_bar(description) as (bar, task):

        def start(label: str, total: int) -> Callable[[int], None]:
            bar.update(task, description=f"{description}: {label}", total=total, completed=0)
            return lambda n: bar.advance(task, n)

        yield start


def quiet_progress_bars() -> None:
    """Silence the tqdm bars of datasets and transformers (herdsman reports progress itself)."""
    import datasets
    from transformers.utils import logging as hf_logging

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
