"""respond --logprobs K: the teacher's top-k token log-probabilities, kept once per answer.

Through every backend that can give them (the local transformers teacher, the
OpenAI-compatible API against a real loopback server, vLLM through the fake
engine), into the run store with the answer, and out beside the answers and
the dataset; a kill -9 and a re-run keep each answer's exactly once.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from herdsman.embedded import converted_folder
from herdsman.generation.respond import RespondSettings, respond
from herdsman.io.logprobs import LogprobsMeta, TeacherTokens, iter_logprobs, read_logprobs
from herdsman.records import SamplingParams
from herdsman.store.run_store import CallResult, RunStore
from herdsman.teachers.local import LocalTeacher
from herdsman.teachers.openai_http import tokens_from_content
from herdsman.teachers.token_map import TokenMap, byte_alphabet
from herdsman.testing.stub_server import StubServer, stub_token_ids
from tests.conftest import assert_one_line_error, run_cli
from tests.generation.test_respond import ok_rows, read_jsonl, stub_process, write_jsonl
from tests.teachers.test_vllm_offline import fake_vllm

_FIXTURES = (stub_process, fake_vllm)  # used by name below

TEACHER = "smollm2-135m-instruct"


def test_tokens_round_trip_through_the_store_exactly_once(tmp_path: Path) -> None:
    first = TeacherTokens.build([5, 7], [[(5, -0.1), (6, -2.0)], [(7, -0.2)]], 2)
    other = TeacherTokens.build([9], [[(9, -0.3), (1, -1.5)]], 2)
    with RunStore(tmp_path / "s.sqlite") as store:
        ok = CallResult("k1", "respond", "local", "m", "ok", text="hi", tokens=first)
        store.put_many([ok])
        # The same call again (a re-run after a crash): neither answer nor tokens change.
        store.put_many([CallResult("k1", "respond", "local", "m", "ok", text="ho", tokens=other)])
        # A failed call keeps no tokens.
        store.put_many(
            [CallResult("k2", "respond", "local", "m", "error", error="x", tokens=other)]
        )
        got = store.get_tokens(["k1", "k2", "k3"])
    assert set(got) == {"k1"} and got["k1"].equals(first)
    assert got["k1"].top_logprobs.dtype == np.float16 and got["k1"].top_ids.dtype == np.int32


def test_local_teacher_answers_with_its_own_tokens_and_distributions(tmp_path: Path) -> None:
    """Greedy answers: the stored token is the top-1 of its stored distribution at every
    position, the ids decode to the answer, and asking for log-probabilities does not
    change the answer."""
    src = write_jsonl(
        tmp_path / "in.jsonl",
        [{"instruction": q} for q in ("Name the capital of France.", "Say hello.", "Count to 3.")],
    )
    teacher = LocalTeacher(TEACHER, batch_size=3)
    sampling = SamplingParams(temperature=0.0, max_tokens=24)
    with RunStore(tmp_path / "s.sqlite") as store:
        respond(
            teacher,
            store,
            src,
            tmp_path / "a.jsonl",
            RespondSettings(sampling=sampling, logprobs=5),
        )
        respond(teacher, store, src, tmp_path / "b.jsonl", RespondSettings(sampling=sampling))
        with_lp, plain = read_jsonl(tmp_path / "a.jsonl"), read_jsonl(tmp_path / "b.jsonl")
        tokens = store.get_tokens([str(r["call_key"]) for r in with_lp])
    assert [r["response"] for r in with_lp] == [r["response"] for r in plain]
    assert {r["call_key"] for r in with_lp}.isdisjoint({r["call_key"] for r in plain})
    tok = teacher._tokenizer
    for row in with_lp:
        t = tokens[str(row["call_key"])]
        assert t.k == 5 and len(t) == row["completion_tokens"] + (row["finish_reason"] == "stop")
        assert np.array_equal(t.top_ids[:, 0], t.token_ids)
        assert tok.decode(t.token_ids, skip_special_tokens=True).strip() == row["response"]
        probs = np.exp(t.top_logprobs.astype(np.float64))
        assert (probs.sum(axis=1) <= 1.0 + 1e-2).all() and (
            np.diff(t.top_logprobs, axis=1) <= 0
        ).all()
    teacher.close()


def test_cli_writes_the_logprobs_beside_the_answers_and_refuses_what_cannot_work(
    stub: StubServer, tmp_path: Path
) -> None:
    src = write_jsonl(
        tmp_path / "in.jsonl", [{"instruction": f"Tell me about {i}."} for i in range(6)]
    )
    out = tmp_path / "out.jsonl"
    tokenizer = str(converted_folder(TEACHER))
    base = ["respond", str(src), "-o", str(out), "--teacher", "openai", "--model", "stub",
            "--base-url", stub.url]  # fmt: skip
    done = run_cli(*base, "--logprobs", "4", "--tokenizer", tokenizer)
    assert done.returncode == 0, done.stderr
    rows = read_jsonl(out)
    stored = list(iter_logprobs(out.with_name("out.jsonl.logprobs") / "answers.parquet"))
    assert [k for k, _ in stored] == [r["call_key"] for r in rows]
    for (_, tokens), row in zip(stored, rows, strict=True):
        assert tokens.token_ids.tolist() == stub_token_ids(str(row["response"]))
        assert tokens.k == 4 and math.isclose(
            float(tokens.top_logprobs[0, 0]), math.log(0.8), abs_tol=1e-3
        )
    meta = LogprobsMeta.read(out.with_name("out.jsonl.logprobs"))
    assert meta.k == 4 and meta.tokenizer == tokenizer and meta.backend == "openai"
    # K above the API's cap, no tokenizer, a server without log-probabilities: one line each.
    assert_one_line_error(
        run_cli(*base, "--logprobs", "21", "--tokenizer", tokenizer), "at most 20"
    )
    assert_one_line_error(run_cli(*base, "--logprobs", "4"), "teacher.tokenizer")
    stub.state.logprobs = False
    src2 = write_jsonl(tmp_path / "in2.jsonl", [{"instruction": "Something new."}])
    refused = run_cli("respond", str(src2), "-o", str(tmp_path / "o2.jsonl"), *base[4:],
                      "--logprobs", "4", "--tokenizer", tokenizer)  # fmt: skip
    assert_one_line_error(refused, "returned no log-probabilities")


def test_token_map_reads_byte_level_text_and_id_forms() -> None:
    """What a server says of SmolLM2's own tokens maps back to their ids."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(converted_folder(TEACHER))
    ids = tok.encode(" The café costs 3€, naïvely.", add_special_tokens=False)
    inverse = {v: k for k, v in byte_alphabet().items()}
    mapping = TokenMap(dict(tok.get_vocab()), TEACHER)
    content = []
    for i in ids:
        raw = bytes(inverse[c] for c in tok.convert_ids_to_tokens(i))
        text = raw.decode("utf-8", errors="replace")
        entry = {"token": text, "bytes": list(raw), "logprob": -0.1}
        content.append(
            {**entry, "top_logprobs": [entry, {"token": f"token_id:{i + 1}", "logprob": -3.0}]}
        )
    tokens = tokens_from_content({"logprobs": {"content": content}}, 2, mapping)
    assert tokens is not None and tokens.token_ids.tolist() == ids
    assert tokens.top_ids[:, 1].tolist() == [i + 1 for i in ids]
    with pytest.raises(Exception, match="not in the vocabulary"):
        mapping.find({"token": "\udcff-not-a-token-\u2603\u2603\u2603", "logprob": -1.0})


def test_vllm_capture_through_the_fake_engine(fake_vllm: object) -> None:
    from herdsman.teachers.base import ChatRequest
    from herdsman.teachers.vllm_offline import VLLMTeacher

    teacher = VLLMTeacher(None)
    request = ChatRequest(
        key="k", messages=({"role": "user", "content": "hi"},),
        sampling=SamplingParams(max_tokens=4), logprobs=3,
    )  # fmt: skip
    (completion,) = teacher.generate([request])
    assert completion.tokens is not None
    assert completion.tokens.token_ids.tolist() == [1] and completion.tokens.top_ids.tolist() == [
        [0, 1, 2]
    ]
    assert np.allclose(
        np.exp(completion.tokens.top_logprobs.astype(float)), [[0.6, 0.3, 0.05]], atol=1e-3
    )


def test_kill_9_then_rerun_keeps_each_answers_logprobs_once_and_equal(
    stub_process: str, tmp_path: Path
) -> None:
    n = 300
    src = write_jsonl(
        tmp_path / "in.jsonl", [{"id": f"q{i}", "instruction": f"Question {i}?"} for i in range(n)]
    )
    tokenizer = str(converted_folder(TEACHER))

    def args(out: Path) -> list[str]:
        return [sys.executable, "-m", "herdsman", "respond", str(src), "-o", str(out),
                "--teacher", "openai", "--model", "stub", "--base-url", f"{stub_process}/v1",
                "--concurrency", "8", "--logprobs", "3", "--tokenizer", tokenizer]  # fmt: skip

    killed = tmp_path / "killed" / "out.jsonl"
    store = killed.parent / ".herdsman" / "store.sqlite"
    proc = subprocess.Popen(args(killed), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while ok_rows(store) < 80 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 80 <= ok_rows(store) < n, "the kill should land mid-run"
    rerun = subprocess.run(args(killed), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    clean = tmp_path / "clean" / "out.jsonl"
    once = subprocess.run(args(clean), capture_output=True, text=True, timeout=300)
    assert once.returncode == 0, once.stderr
    after = list(iter_logprobs(killed.with_name("out.jsonl.logprobs") / "answers.parquet"))
    reference = read_logprobs(clean.with_name("out.jsonl.logprobs") / "answers.parquet")
    assert len(after) == n == len({k for k, _ in after})  # each answer's exactly once
    assert all(tokens.equals(reference[key]) for key, tokens in after)
    with RunStore(store) as s:
        counted = s._conn.execute("SELECT COUNT(*) FROM logprobs").fetchone()[0]
    assert counted == n
