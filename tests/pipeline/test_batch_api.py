"""``teacher.batch_api``: respond goes through the Batch API, every other stage calls live."""

from __future__ import annotations

from pathlib import Path

import orjson

from herdsman.config import load_config
from herdsman.generation.prompts import requested_count
from herdsman.pipeline.context import Context
from herdsman.pipeline.runner import run_pipeline
from herdsman.store.run_store import RunStore
from herdsman.teachers.openai_batch import OpenAIBatchTeacher
from herdsman.teachers.openai_http import OpenAITeacher
from herdsman.testing.stub_server import StubServer
from tests.conftest import require_data, run_cli
from tests.pipeline.test_runner import make_project


def batch_lines(stub: StubServer) -> list[dict[str, object]]:
    """Every request line of every batch the stub was asked to run."""
    lines = []
    for batch in stub.state.batches.values():
        raw = stub.state.files[str(batch["input_file_id"])]
        lines += [orjson.loads(line) for line in raw.splitlines() if line.strip()]
    return lines


def user_text(line: dict[str, object]) -> str:
    body = line["body"]
    assert isinstance(body, dict)
    return str(body["messages"][-1]["content"])


def with_batch_api(config: Path) -> Path:
    text = config.read_text().replace("  concurrency: 8\n", "  concurrency: 8\n  batch_api: true\n")
    config.write_text(text.replace("teacher:\n", "teacher:\n  batch_poll_s: 0.01\n", 1))
    return config


def test_only_respond_uses_the_batch_api(stub: StubServer, tmp_path: Path) -> None:
    config = with_batch_api(make_project(tmp_path, stub.url))
    result = run_pipeline(load_config(config), ["seeds", "topics", "generate", "respond"])
    assert result.outcome("respond").status == "ran"
    lines = batch_lines(stub)
    instructions = (tmp_path / "run" / "instructions.jsonl").read_text().splitlines()
    # respond: every answer in one batch; generate: not one generation prompt in a batch.
    assert len(stub.state.batches) == 1
    assert len(lines) == len(instructions) == 20 + 12 + 6
    assert not [line for line in lines if requested_count(user_text(line)) is not None]
    # The generation calls went to the live endpoint (the stub counts both kinds).
    with RunStore(tmp_path / "run" / ".herdsman" / "store.sqlite") as store:
        generated, answered = store.totals("generate"), store.totals("respond")
    assert generated.ok > 0 and answered.ok == len(lines)
    assert stub.state.requests == generated.ok + generated.errors + answered.ok


def test_the_stages_teachers_share_one_identity(stub: StubServer, tmp_path: Path) -> None:
    loaded = load_config(with_batch_api(make_project(tmp_path, stub.url)))
    ctx = Context(loaded=loaded, run_dir=tmp_path / "run")
    try:
        live, batch = ctx.teacher(), ctx.teacher(batch=True)
        assert isinstance(live, OpenAITeacher) and isinstance(batch, OpenAIBatchTeacher)
        assert ctx.teacher() is live  # generate, select and judge share the live one
        assert (live.backend, live.model, live.endpoint) == (
            batch.backend,
            batch.model,
            batch.endpoint,
        )  # the same call keys: an answer made either way is found either way
    finally:
        ctx.close()
    (tmp_path / "plain").mkdir()
    plain = load_config(make_project(tmp_path / "plain", stub.url))
    ctx = Context(loaded=plain, run_dir=tmp_path / "plain" / "run")
    try:
        assert ctx.teacher(batch=True) is ctx.teacher()  # without batch_api: one teacher
    finally:
        ctx.close()


def test_generate_command_with_batch_api_calls_live(stub: StubServer, tmp_path: Path) -> None:
    seeds = require_data("self_instruct", "seed_tasks.jsonl")
    out = tmp_path / "gen.jsonl"
    args = ["generate", "--strategy", "example", "--seeds", str(seeds), "-n", "4",
            "-o", str(out), "--teacher", "openai", "--model", "stub", "--base-url", stub.url,
            "--batch-api", "--poll", "0.01"]  # fmt: skip
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert len(out.read_text().splitlines()) == 4
    assert stub.state.requests > 0 and not stub.state.batches
