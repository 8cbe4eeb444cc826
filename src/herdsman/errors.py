"""Errors that reach the user as one line, without a traceback."""

from __future__ import annotations


class HerdsmanError(Exception):
    """A user-facing error: bad input, bad config, an unreachable teacher.

    The CLI prints ``error: <message>`` on one line and exits non-zero.
    The message must name what is wrong and where (file, line, field).
    """


class InputError(HerdsmanError):
    """A malformed input file or record."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.reason = message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")


class TeacherFatalError(HerdsmanError):
    """The teacher cannot be used at all (authentication, missing model): stop the run."""


class IncompleteStage(HerdsmanError):
    """A stage ran but could not finish (failed calls): re-run to retry; exit code 3."""


class SubmissionError(HerdsmanError):
    """A rating submission that does not match the item it names."""


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether an exception is an out-of-memory error (CUDA, or the host allocator)."""
    text = str(exc).lower()
    return (
        isinstance(exc, MemoryError) or "out of memory" in text or "can't allocate memory" in text
    )
