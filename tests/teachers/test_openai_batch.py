"""OpenAI Batch API backend against the loopback stub: submit, poll, collect, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from herdsman.errors import TeacherFatalError
from herdsman.records import SamplingParams
from herdsman.store.calls import execute
from herdsman.store.run_store import RunStore, call_key
from herdsman.teachers.base import ChatRequest
from herdsman.teachers.openai_batch import BatchSettings, OpenAIBatchTeacher
from herdsman.teachers.pricing import PriceTable
from herdsman.testing.stub_server import StubServer
from tests.conftest import run_cli

SAMPLING = SamplingParams(temperature=0.0, max_tokens=32)


def requests(texts: list[str]) -> list[ChatRequest]:
    out = []
    for text in texts:
        messages = ({"role": "user", "content": text},)
        key = call_key("openai", "stub", messages, SAMPLING.model_dump(), endpoint="stub")
        out.append(ChatRequest(key=key, messages=messages, sampling=SAMPLING))
    return out


def teacher(stub: StubServer, tmp_path: Path, **kw: object) -> OpenAIBatchTeacher:
    settings = BatchSettings(
        base_url=stub.url,
        journal=tmp_path / "batches.jsonl",
        poll_s=0.01,
        **kw,  # type: ignore[arg-type]
    )
    return OpenAIBatchTeacher("stub", None, settings, sleep=lambda s: None)


def test_submit_poll_collect(stub: StubServer, tmp_path: Path) -> None:
    batch = requests([f"Name colour {n}." for n in range(5)])
    with RunStore(tmp_path / "store.sqlite") as store:
        stats = execute(teacher(stub, tmp_path, max_requests=2), store, batch, "respond")
        assert stats.ok == 5 and stats.failed == 0
        assert store.get(batch[3].key).text == "echo: Name colour 3."  # type: ignore[union-attr]
        assert len(stub.state.batches) == 3  # 2 + 2 + 1 requests
        assert stub.state.batch_polls >= 9  # validating -> in_progress -> completed, each
        # Everything is in the store: a re-run submits nothing.
        again = execute(teacher(stub, tmp_path), store, batch, "respond")
    assert again.cached == 5 and len(stub.state.batches) == 3


def test_a_crash_after_submitting_resumes_the_same_batch(stub: StubServer, tmp_path: Path) -> None:
    batch = requests(["one", "two", "three"])
    first = teacher(stub, tmp_path)
    with first._client() as client:
        chunk = next(iter(first._chunks(batch)))
        first.submit(client, chunk)  # ...and the process dies before collecting
    assert len(stub.state.batches) == 1
    with RunStore(tmp_path / "store.sqlite") as store:
        stats = execute(teacher(stub, tmp_path), store, batch, "respond")
    assert stats.ok == 3
    assert len(stub.state.batches) == 1  # polled and collected, not submitted again
    entries = [json.loads(x) for x in (tmp_path / "batches.jsonl").read_text().splitlines()]
    assert entries[-1] == {"input_file_id": "file-0", "batch_id": "batch-0", "collected": True}


class Crash(BaseException):
    """The process dies here."""


def test_a_crash_between_creating_the_batch_and_journaling_it_never_pays_twice(
    stub: StubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = requests(["one", "two", "three"])
    first = teacher(stub, tmp_path)
    real_record = first.journal.record

    def record(entry: dict[str, object]) -> None:
        if "batch_id" in entry:  # the batch exists on the server; the power goes out
            raise Crash
        real_record(entry)

    monkeypatch.setattr(first.journal, "record", record)
    with RunStore(tmp_path / "store.sqlite") as store, pytest.raises(Crash):
        execute(first, store, batch, "respond")
    assert len(stub.state.batches) == 1  # it was created (and would be billed)
    # The account makes more batches since, so the one to find is on a later page.
    for n in range(120):
        stub.state.files[f"other-{n}"] = b""
        stub.state.batches[f"batch-x{n}"] = {
            "id": f"batch-x{n}", "status": "completed", "input_file_id": f"other-{n}",
            "polls": 0, "output_file_id": None, "error_file_id": None,
        }  # fmt: skip
    created = len(stub.state.batches)
    monkeypatch.undo()
    with RunStore(tmp_path / "store.sqlite") as store:
        stats = execute(teacher(stub, tmp_path), store, batch, "respond")
    assert stats.ok == 3
    assert len(stub.state.batches) == created  # found by its input file, not created again
    assert stub.state.batch_lists >= 2  # it paged through the account's batches


def test_a_crash_after_uploading_creates_the_batch_from_the_same_upload(
    stub: StubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = requests(["alpha", "beta"])
    first = teacher(stub, tmp_path)

    def create_batch(client: object, file_id: str) -> str:
        raise Crash  # uploaded and journaled; the batch was never created

    monkeypatch.setattr(first, "create_batch", create_batch)
    with RunStore(tmp_path / "store.sqlite") as store, pytest.raises(Crash):
        execute(first, store, batch, "respond")
    assert len(stub.state.files) == 1 and not stub.state.batches
    monkeypatch.undo()
    with RunStore(tmp_path / "store.sqlite") as store:
        stats = execute(teacher(stub, tmp_path), store, batch, "respond")
    assert stats.ok == 2
    assert len(stub.state.batches) == 1
    assert stub.state.batches["batch-0"]["input_file_id"] == "file-0"  # no second upload


def test_the_journal_is_fsynced_before_the_batch_is_created(
    stub: StubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    journal = tmp_path / "batches.jsonl"
    events: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if os.path.realpath(f"/proc/self/fd/{fd}") == str(journal.resolve()):
            events.append(f"fsync journal ({len(journal.read_text().splitlines())} lines)")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    first = teacher(stub, tmp_path)
    real_create = first.create_batch

    def create_batch(client: object, file_id: str) -> str:
        events.append("create batch")
        return real_create(client, file_id)  # type: ignore[arg-type]

    monkeypatch.setattr(first, "create_batch", create_batch)
    with RunStore(tmp_path / "store.sqlite") as store:
        execute(first, store, requests(["x"]), "respond")
    assert events[:3] == ["fsync journal (1 lines)", "create batch", "fsync journal (2 lines)"]


def test_a_cut_journal_line_is_ignored(stub: StubServer, tmp_path: Path) -> None:
    (tmp_path / "batches.jsonl").write_bytes(b'{"batch_id": "batch-9", "keys": ["x"')
    with RunStore(tmp_path / "store.sqlite") as store:
        stats = execute(teacher(stub, tmp_path), store, requests(["a"]), "respond")
    assert stats.ok == 1


def test_expired_lines_fail_and_are_resubmitted(stub: StubServer, tmp_path: Path) -> None:
    batch = requests(["kept", "lost [[batch-drop]]", "refused [[400]]"])
    stub.state.expire_batches = True
    with RunStore(tmp_path / "store.sqlite") as store:
        stats = execute(teacher(stub, tmp_path), store, batch, "respond")
        assert (stats.ok, stats.failed) == (1, 2)
        lost = store.get(batch[1].key)
        refused = store.get(batch[2].key)
        assert lost and "expired without an answer" in (lost.error or "")
        assert refused and "HTTP 400" in (refused.error or "")
        stub.state.expire_batches = False
        again = execute(teacher(stub, tmp_path), store, batch, "respond")
    assert again.cached == 1 and again.failed == 2  # only the two were submitted again
    assert len(stub.state.batches) == 2


def test_batch_costs_half_and_bad_keys_stop(tmp_path: Path) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("stub: {input: 2.0, output: 4.0}\n")
    with StubServer(api_key="right") as stub:
        settings = BatchSettings(base_url=stub.url, journal=tmp_path / "j.jsonl", poll_s=0.01)
        good = OpenAIBatchTeacher("stub", "right", settings, PriceTable.from_file(prices))
        with RunStore(tmp_path / "store.sqlite") as store:
            stats = execute(good, store, requests(["price me"]), "respond")
            full = (2.0 * stats.prompt_tokens + 4.0 * stats.completion_tokens) / 1e6
            assert stats.cost == pytest.approx(full / 2)
            bad = OpenAIBatchTeacher("stub", "wrong", settings)
            with pytest.raises(TeacherFatalError, match="authentication failed"):
                execute(bad, store, requests(["another"]), "respond")


def test_respond_cli_batch_api(stub: StubServer, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"instruction": f"Say {w}."}) + "\n" for w in "abc"))
    out = tmp_path / "out.jsonl"
    args = ["respond", str(src), "-o", str(out), "--teacher", "openai", "--model", "stub",
            "--base-url", stub.url, "--batch-api", "--poll", "0.01"]  # fmt: skip
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["instruction"] for r in rows] == ["Say a.", "Say b.", "Say c."]
    assert all(r["response"].startswith("echo: ") for r in rows)
    assert len(stub.state.batches) == 1
    assert (tmp_path / ".herdsman" / "batches.jsonl").is_file()
    local = run_cli("respond", str(src), "-o", str(out), "--batch-api")
    assert (
        local.returncode != 0 and "--batch-api: not a setting of the local teacher" in local.stderr
    )
