"""Response generation through the real loopback server: order, resume, faults, kill -9."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from herdsman.errors import InputError
from herdsman.generation.respond import DEFAULT_SYSTEM_PROMPT, RespondSettings, respond
from herdsman.records import SamplingParams
from herdsman.store.run_store import RunStore
from herdsman.teachers.openai_http import OpenAISettings, OpenAITeacher
from herdsman.testing.stub_server import StubServer, echo_answer
from tests.conftest import assert_one_line_error, require_data, run_cli


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def teacher(url: str, concurrency: int = 8, max_retries: int = 1) -> OpenAITeacher:
    return OpenAITeacher(
        "stub-model",
        None,
        OpenAISettings(
            base_url=url,
            concurrency=concurrency,
            max_retries=max_retries,
            backoff_base_s=0.01,
            backoff_max_s=0.02,
        ),
    )


def test_respond_writes_lamini_records_in_input_order(stub: StubServer, tmp_path: Path) -> None:
    rows = [
        {"id": f"i{i}", "instruction": f"Task number {i}", "instruction_source": "alpaca"}
        for i in range(50)
    ]
    rows[3]["input"] = "some input"
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    with RunStore(tmp_path / "store.sqlite") as store:
        report = respond(teacher(stub.url), store, src, out)
    records = read_jsonl(out)
    assert report.written == 50 and report.failed == 0
    assert [r["id"] for r in records] == [f"i{i}" for i in range(50)]
    assert records[3]["instruction"] == "Task number 3\n\nsome input"
    assert all(r["response"] == echo_answer(str(r["instruction"])) for r in records)
    assert list(records[0])[:3] == ["instruction", "response", "instruction_source"]
    assert records[0]["teacher"] == "openai" and records[0]["model"] == "stub-model"
    assert records[0]["finish_reason"] == "stop"


def test_rerun_makes_no_new_calls_and_duplicates_are_called_once(
    stub: StubServer, tmp_path: Path
) -> None:
    rows = [{"instruction": f"Q{i % 10}"} for i in range(30)]  # each instruction three times
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    with RunStore(tmp_path / "store.sqlite") as store:
        first = respond(teacher(stub.url), store, src, out)
        assert stub.state.requests == 10 and first.calls.ok == 10 and first.calls.cached == 20
        second = respond(teacher(stub.url), store, src, out)
    assert stub.state.requests == 10 and second.calls.ok == 0 and second.calls.cached == 30
    assert len(read_jsonl(out)) == 30  # one record per input instruction


def test_failed_calls_are_listed_and_retried_on_the_next_run(tmp_path: Path) -> None:
    rows = [
        {"instruction": "fine 1"},
        {"instruction": "[[500:2]] flaky"},
        {"instruction": "fine 2"},
    ]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    with StubServer() as server, RunStore(tmp_path / "store.sqlite") as store:
        first = respond(teacher(server.url, max_retries=0), store, src, out)
        assert first.failed == 1 and first.written == 2
        assert first.failures_path is not None
        failure = read_jsonl(first.failures_path)[0]
        assert failure["id"] == "in:2" and "HTTP 500" in str(failure["error"])
        second = respond(
            teacher(server.url, max_retries=0), store, src, out
        )  # 500 again: still failing
        third = respond(teacher(server.url, max_retries=0), store, src, out)
        assert (
            second.failed == 1
            and third.failed == 0
            and third.calls.ok == 1
            and third.calls.cached == 2
        )
        assert server.state.by_content["[[500:2]] flaky"] == 3
    assert [r["instruction"] for r in read_jsonl(out)] == ["fine 1", "[[500:2]] flaky", "fine 2"]
    assert not (tmp_path / "out.jsonl.failed.jsonl").exists()


def test_truncated_answers_are_marked_or_dropped(stub: StubServer, tmp_path: Path) -> None:
    src = write_jsonl(
        tmp_path / "in.jsonl", [{"instruction": "[[length]] long"}, {"instruction": "short"}]
    )
    out = tmp_path / "out.jsonl"
    with RunStore(tmp_path / "store.sqlite") as store:
        kept = respond(teacher(stub.url), store, src, out)
        assert kept.truncated == 1 and read_jsonl(out)[0]["finish_reason"] == "length"
        dropped = respond(teacher(stub.url), store, src, out, RespondSettings(drop_truncated=True))
    assert dropped.dropped_truncated == 1 and [r["instruction"] for r in read_jsonl(out)] == [
        "short"
    ]


def test_settings_change_the_call_key(stub: StubServer, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"instruction": "Q"}])
    with RunStore(tmp_path / "store.sqlite") as store:
        respond(teacher(stub.url), store, src, tmp_path / "a.jsonl")
        respond(
            teacher(stub.url),
            store,
            src,
            tmp_path / "b.jsonl",
            RespondSettings(sampling=SamplingParams(max_tokens=7)),
        )
        respond(
            teacher(stub.url), store, src, tmp_path / "c.jsonl", RespondSettings(system_prompt="")
        )
    assert stub.state.requests == 3


def test_bad_input_fails_before_any_call(stub: StubServer, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"instruction": "ok"}\n{"instruction": ""}\n{"instruction": "ok 2"}\n')
    with RunStore(tmp_path / "store.sqlite") as store:
        with pytest.raises(InputError, match=r"in.jsonl:2: field 'instruction': empty instruction"):
            respond(teacher(stub.url), store, src, tmp_path / "out.jsonl")
        assert stub.state.requests == 0
        report = respond(teacher(stub.url), store, src, tmp_path / "out.jsonl", skip_bad=True)
    assert report.skipped_bad == 1 and report.written == 2


def test_seeds_output_feeds_respond_with_lamini_sources(stub: StubServer, tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.jsonl"
    assert (
        run_cli(
            "seeds", str(require_data("alpaca", "alpaca_5000.json")), "-o", str(seeds)
        ).returncode
        == 0
    )
    head = tmp_path / "head.jsonl"
    head.write_text("".join(seeds.read_text().splitlines(keepends=True)[:40]))
    with RunStore(tmp_path / "store.sqlite") as store:
        respond(teacher(stub.url, concurrency=16), store, head, tmp_path / "out.jsonl")
    records = read_jsonl(tmp_path / "out.jsonl")
    assert len(records) == 40 and {r["instruction_source"] for r in records} == {"alpaca"}


# --- the CLI, as a user runs it ----------------------------------------------------------------


@pytest.fixture
def stub_process() -> Iterator[str]:
    """The stub server in its own process (50 ms per answer), as a separate machine would be."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "herdsman.testing.stub_server", "--delay", "0.05"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline().split()[1])
    yield f"http://127.0.0.1:{port}"
    proc.kill()
    proc.wait()


def stub_stats(base: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{base}/stats") as response:
        data: dict[str, object] = json.loads(response.read())
    return data


def ok_rows(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM calls WHERE status='ok'").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


def test_kill_9_mid_respond_then_rerun_gives_exactly_one_correct_record_each(
    stub_process: str, tmp_path: Path
) -> None:
    n = 400
    src = write_jsonl(
        tmp_path / "in.jsonl", [{"id": f"q{i}", "instruction": f"Question {i}?"} for i in range(n)]
    )
    out = tmp_path / "out.jsonl"
    store = tmp_path / ".herdsman" / "store.sqlite"
    args = [
        sys.executable, "-m", "herdsman", "respond", str(src), "-o", str(out),
        "--teacher", "openai", "--model", "stub", "--base-url", f"{stub_process}/v1", "--concurrency", "8",
    ]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while ok_rows(store) < 100 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = ok_rows(store)
    assert 100 <= done_before < n, "the kill should land mid-run"
    assert not out.exists()  # the output appears only when complete

    rerun = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    records = read_jsonl(out)
    assert [r["id"] for r in records] == [f"q{i}" for i in range(n)]
    assert all(r["response"] == echo_answer(f"Question {i}?") for i, r in enumerate(records))
    stats = stub_stats(stub_process)
    calls = stats["by_content"]
    assert isinstance(calls, dict) and set(calls) == {f"Question {i}?" for i in range(n)}
    # At most the calls in flight at the kill (concurrency 8) are made twice.
    assert sum(calls.values()) - n <= 8
    assert ok_rows(store) == n


def test_cli_respond_against_openai_backend_with_key(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"instruction": f"Q{i}"} for i in range(5)])
    out = tmp_path / "out.jsonl"
    with StubServer(api_key="sk-test-SECRET") as server:
        env = {"MY_KEY": "sk-test-SECRET"}
        common = [
            "respond",
            str(src),
            "-o",
            str(out),
            "--teacher",
            "openai",
            "--model",
            "gpt-4o-mini",
            "--base-url",
            server.url,
        ]
        result = run_cli(*common, "--api-key-env", "MY_KEY", env=env)
        assert result.returncode == 0, result.stderr
        assert "wrote 5 of 5 records" in result.stderr and "$0.0000" in result.stderr
        bad = run_cli(
            *common, "--api-key-env", "MY_KEY", "--max-tokens", "9", env={"MY_KEY": "sk-wrong"}
        )
        assert_one_line_error(bad, "HTTP 401", "API key")
    store_bytes = (tmp_path / ".herdsman" / "store.sqlite").read_bytes()
    assert b"sk-test-SECRET" not in store_bytes and b"sk-test-SECRET" not in out.read_bytes()
    assert "sk-test-SECRET" not in result.stderr + result.stdout
    assert len(read_jsonl(out)) == 5  # the failed second run lost nothing already written


def test_cli_respond_incomplete_run_exits_3_and_names_the_failures(tmp_path: Path) -> None:
    src = write_jsonl(
        tmp_path / "in.jsonl", [{"instruction": "[[always500]] x"}, {"instruction": "y"}]
    )
    with StubServer() as server:
        result = run_cli(
            "respond", str(src), "-o", str(tmp_path / "out.jsonl"), "--teacher", "openai", "--model", "m",
            "--base-url", server.url, "--max-retries", "0",
        )  # fmt: skip
    assert result.returncode == 3
    assert "1 instruction(s) have no answer" in result.stderr and "re-run" in result.stderr
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 1


def test_cli_respond_user_errors(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"instruction": "x"}])
    out = str(tmp_path / "out.jsonl")
    env = {"OPENAI_API_KEY": ""}
    assert_one_line_error(
        run_cli("respond", str(tmp_path / "missing.jsonl"), "-o", out),
        "missing.jsonl",
        "no such file",
    )
    assert_one_line_error(
        run_cli("respond", str(src), "-o", out, "--teacher", "openai", "--model", "m", env=env),
        "OPENAI_API_KEY",
    )
    assert_one_line_error(
        run_cli("respond", str(src), "-o", out, "--teacher", "openai"),
        "--model: required with the openai backend",
    )
    assert_one_line_error(
        run_cli("respond", str(src), "-o", out, "--teacher", "claude"), "unknown backend"
    )
    assert_one_line_error(
        run_cli("respond", str(src), "-o", out, "--model", str(tmp_path / "no-model")),
        "does not exist",
    )
    with_port = run_cli(
        "respond",
        str(src),
        "-o",
        out,
        "--teacher",
        "openai",
        "--model",
        "m",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--max-retries",
        "0",
    )
    assert_one_line_error(with_port, "cannot connect")


def test_default_system_prompt_asks_for_concise_answers() -> None:
    assert "concise" in DEFAULT_SYSTEM_PROMPT


def test_records_carry_provenance_and_validate_as_examples(
    stub: StubServer, tmp_path: Path
) -> None:
    from herdsman.records import Example

    rows = [
        {"instruction": "Q1", "seed_ids": ["s1", "s2", "s3"], "topics": ["Jazz"]},
        {"instruction": "Q2", "provenance": {"seed_ids": ["s4"]}},
    ]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    settings = RespondSettings(sampling=SamplingParams(temperature=0.5, max_tokens=9, seed=1))
    with RunStore(tmp_path / "store.sqlite") as store:
        respond(teacher(stub.url), store, src, tmp_path / "out.jsonl", settings)
    out = [Example.model_validate(r) for r in read_jsonl(tmp_path / "out.jsonl")]
    assert out[0].seed_ids == ["s1", "s2", "s3"] and out[0].topics == ["Jazz"]
    assert out[1].seed_ids == ["s4"] and out[1].topics is None
    assert out[0].sampling == settings.sampling
    assert out[0].prompt_hash and out[0].prompt_hash != out[1].prompt_hash
    assert out[0].created_at and out[0].call_key


def test_wrongly_typed_provenance_is_an_input_error(stub: StubServer, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"instruction": "Q", "topics": "Jazz"}])
    with (
        RunStore(tmp_path / "store.sqlite") as store,
        pytest.raises(InputError, match=r"in.jsonl:1: field 'topics'"),
    ):
        respond(teacher(stub.url), store, src, tmp_path / "out.jsonl")


class EditingTeacher(OpenAITeacher):
    """A real teacher (the loopback stub) whose first call coincides with an edit of the input."""

    def __init__(self, url: str, path: Path) -> None:
        super().__init__("stub-model", None, OpenAISettings(base_url=url, max_retries=0))
        self.path = path

    def run(self, requests, sink) -> None:  # type: ignore[no-untyped-def]
        rows = read_jsonl(self.path)
        rows[0], rows[1] = rows[1], rows[0]  # same lines, another order
        write_jsonl(self.path, rows)
        super().run(requests, sink)


def test_an_input_edited_mid_run_stops_before_any_answer_is_misattached(
    stub: StubServer, tmp_path: Path
) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"instruction": f"Say {w}."} for w in "abcd"])
    out = tmp_path / "out.jsonl"
    out.write_text("previous output\n")
    with RunStore(tmp_path / "store.sqlite") as store, pytest.raises(InputError) as error:
        respond(EditingTeacher(stub.url, src), store, src, out)
    assert f"{src}: the file changed" in str(error.value)
    assert out.read_text() == "previous output\n"  # nothing written over it


def test_a_second_run_on_the_same_store_stops_and_names_the_first(
    stub_process: str, tmp_path: Path
) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"instruction": f"Item {n}."} for n in range(200)])
    args = ["-m", "herdsman", "respond", str(src), "-o", str(tmp_path / "out.jsonl"),
            "--teacher", "openai", "--model", "stub", "--base-url", f"{stub_process}/v1",
            "--concurrency", "2"]  # fmt: skip
    first = subprocess.Popen([sys.executable, *args], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while ok_rows(tmp_path / ".herdsman" / "store.sqlite") == 0:
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.1)
        second = run_cli(*args[2:])
        assert_one_line_error(second, "is in use by pid", str(first.pid), "herdsman respond")
    finally:
        first.kill()
        first.wait()
    # The kernel dropped the killed run's lock: the next run goes ahead and finishes.
    third = run_cli(*args[2:])
    assert third.returncode == 0, third.stderr


def test_cli_durability_option(stub: StubServer, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"instruction": "Say hi."}])
    base = ["respond", str(src), "-o", str(tmp_path / "out.jsonl"), "--teacher", "openai",
            "--model", "stub", "--base-url", stub.url]  # fmt: skip
    assert_one_line_error(run_cli(*base, "--durability", "often"), "--durability", "often")
    assert not (tmp_path / "out.jsonl").exists()
    done = run_cli(*base, "--durability", "full")
    assert done.returncode == 0, done.stderr
    assert read_jsonl(tmp_path / "out.jsonl")[0]["response"] == echo_answer("Say hi.")
