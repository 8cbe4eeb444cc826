from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from herdsman.errors import TeacherFatalError
from herdsman.records import SamplingParams
from herdsman.store.calls import execute
from herdsman.store.run_store import RunStore
from herdsman.teachers.base import ChatRequest, Completion, ResultSink, Teacher


class EchoTeacher(Teacher):
    """A real in-process teacher: answers by echoing; fails on request."""

    backend = "echo"
    model = "echo-1"

    def __init__(self, fail_on: str | None = None, fatal_after: int | None = None) -> None:
        self.seen: list[str] = []
        self.fail_on = fail_on
        self.fatal_after = fatal_after

    def run(self, requests: Iterable[ChatRequest], sink: ResultSink) -> None:
        for request in requests:
            if self.fatal_after is not None and len(self.seen) >= self.fatal_after:
                raise TeacherFatalError("teacher gone")
            content = request.messages[-1]["content"]
            self.seen.append(content)
            if content == self.fail_on:
                sink.put(request, Completion(error="refused"))
            else:
                sink.put(
                    request,
                    Completion(
                        text=content.upper(),
                        finish_reason="stop",
                        prompt_tokens=1,
                        completion_tokens=1,
                    ),
                )


def reqs(*contents: str) -> list[ChatRequest]:
    return [
        ChatRequest(key=c, messages=({"role": "user", "content": c},), sampling=SamplingParams())
        for c in contents
    ]


def test_execute_skips_done_and_repeated_keys(tmp_path: Path) -> None:
    with RunStore(tmp_path / "s.sqlite") as store:
        first = EchoTeacher()
        stats = execute(first, store, reqs("a", "b", "a"), "test")
        assert first.seen == ["a", "b"] and stats.ok == 2 and stats.cached == 1
        second = EchoTeacher()
        stats2 = execute(second, store, reqs("a", "b", "c"), "test")
        assert second.seen == ["c"] and stats2.cached == 2
        assert store.get("c").text == "C" and store.get("c").model == "echo-1"  # type: ignore[union-attr]


def test_failures_are_stored_and_retried(tmp_path: Path) -> None:
    with RunStore(tmp_path / "s.sqlite") as store:
        stats = execute(EchoTeacher(fail_on="b"), store, reqs("a", "b"), "test")
        assert stats.failed == 1 and store.get("b").error == "refused"  # type: ignore[union-attr]
        again = EchoTeacher()
        execute(again, store, reqs("a", "b"), "test")
        assert again.seen == ["b"] and store.get("b").ok  # type: ignore[union-attr]


def test_fatal_error_keeps_everything_finished_before_it(tmp_path: Path) -> None:
    with RunStore(tmp_path / "s.sqlite") as store:
        with pytest.raises(TeacherFatalError):
            execute(EchoTeacher(fatal_after=3), store, reqs("a", "b", "c", "d", "e"), "test")
        assert store.done_keys(["a", "b", "c", "d", "e"]) == {"a", "b", "c"}


def test_progress_is_reported_once_per_request(tmp_path: Path) -> None:
    ticks: list[int] = []
    with RunStore(tmp_path / "s.sqlite") as store:
        execute(EchoTeacher(), store, reqs("a", "b"), "test")
        execute(
            EchoTeacher(),
            store,
            reqs("a", "b", "c", "c"),
            "test",
            on_progress=lambda: ticks.append(1),
        )
    assert len(ticks) == 4
