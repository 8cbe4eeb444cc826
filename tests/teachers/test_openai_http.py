"""The OpenAI-compatible backend against a real aiohttp server on loopback."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from herdsman.errors import TeacherFatalError
from herdsman.records import SamplingParams
from herdsman.teachers.base import ChatRequest, Completion
from herdsman.teachers.openai_http import OpenAISettings, OpenAITeacher, parse_retry_after
from herdsman.teachers.ratelimit import RateBucket
from herdsman.testing.stub_server import StubServer, echo_answer


class ListSink:
    def __init__(self) -> None:
        self.got: dict[str, Completion] = {}
        self.flushes = 0

    def put(self, request: ChatRequest, completion: Completion) -> None:
        assert request.key not in self.got
        self.got[request.key] = completion

    def flush(self) -> None:
        self.flushes += 1


def req(content: str, max_tokens: int = 64) -> ChatRequest:
    return ChatRequest(
        key=content,
        messages=(
            {"role": "system", "content": "Be concise."},
            {"role": "user", "content": content},
        ),
        sampling=SamplingParams(max_tokens=max_tokens),
    )


def teacher(url: str, key: str | None = None, **kw: object) -> OpenAITeacher:
    settings = OpenAISettings(base_url=url, backoff_base_s=0.01, backoff_max_s=0.05, **kw)  # type: ignore[arg-type]
    return OpenAITeacher("gpt-4o-mini", key, settings)


def run(t: OpenAITeacher, contents: list[str]) -> ListSink:
    sink = ListSink()
    t.run([req(c) for c in contents], sink)
    return sink


def test_answers_usage_and_cost(stub: StubServer) -> None:
    sink = run(teacher(stub.url, concurrency=4), [f"question {i}" for i in range(20)])
    assert len(sink.got) == 20
    c = sink.got["question 7"]
    assert c.ok and c.text == echo_answer("question 7") and c.finish_reason == "stop"
    assert c.prompt_tokens == 4 and c.completion_tokens == 3 and c.attempts == 1
    assert c.cost == pytest.approx((4 * 0.15 + 3 * 0.60) / 1e6)
    assert stub.state.requests == 20


def test_429_retry_after_is_honoured(stub: StubServer) -> None:
    started = time.monotonic()
    sink = run(teacher(stub.url), ["[[429:1]] hello"])
    elapsed = time.monotonic() - started
    c = sink.got["[[429:1]] hello"]
    assert c.ok and c.attempts == 2
    assert elapsed >= 0.95  # waited the server's Retry-After: 1, not the 10 ms backoff


def test_500_malformed_json_and_empty_choice_are_retried(stub: StubServer) -> None:
    contents = ["[[500:2]] a", "[[badjson:1]] b", "[[empty:2]] c", "[[503:1]] d"]
    sink = run(teacher(stub.url), contents)
    assert [sink.got[c].attempts for c in contents] == [3, 2, 3, 2]
    assert all(sink.got[c].ok and sink.got[c].text == echo_answer(c) for c in contents)


def test_persistent_failure_is_recorded_not_raised(stub: StubServer) -> None:
    sink = run(teacher(stub.url, max_retries=2), ["[[always500]] x", "fine"])
    failed = sink.got["[[always500]] x"]
    assert not failed.ok and failed.attempts == 3
    assert "HTTP 500" in (failed.error or "") and "after 3 attempts" in (failed.error or "")
    assert sink.got["fine"].ok


def test_client_error_is_not_retried(stub: StubServer) -> None:
    sink = run(teacher(stub.url), ["[[400]] too long"])
    failed = sink.got["[[400]] too long"]
    assert not failed.ok and failed.attempts == 1
    assert failed.error == "HTTP 400: context length exceeded"


def test_truncated_answer_keeps_finish_reason_length(stub: StubServer) -> None:
    c = run(teacher(stub.url), ["[[length]] tell me everything"]).got[
        "[[length]] tell me everything"
    ]
    assert c.ok and c.finish_reason == "length"


def test_auth_failure_stops_at_once_without_leaking_the_key() -> None:
    with StubServer(api_key="sk-right") as server:
        t = teacher(server.url, key="sk-WRONG-SECRET", concurrency=4)
        with pytest.raises(TeacherFatalError) as info:
            run(t, [f"q{i}" for i in range(1000)])
        assert "HTTP 401" in str(info.value) and "API key" in str(info.value)
        assert "sk-WRONG-SECRET" not in str(info.value) and "sk-WRONG-SECRET" not in repr(t)
        assert server.state.requests <= 4  # stopped at once: no retry storm, no further calls
        ok = run(teacher(server.url, key="sk-right"), ["q"])
        assert ok.got["q"].ok


def test_connection_refused_is_fatal_after_retries() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = teacher(f"http://127.0.0.1:{port}/v1", max_retries=2)
    with pytest.raises(TeacherFatalError, match=r"cannot connect .*after 3 attempts"):
        run(t, ["hello"])


def test_timeout_is_retried_then_recorded() -> None:
    with StubServer(delay=0.5) as server:
        sink = run(teacher(server.url, timeout_s=0.1, max_retries=1), ["slow"])
    assert not sink.got["slow"].ok and "TimeoutError" in (sink.got["slow"].error or "")


def test_requests_per_minute_limit_paces_calls(stub: StubServer) -> None:
    started = time.monotonic()
    run(teacher(stub.url, concurrency=16, rpm=600), [f"q{i}" for i in range(30)])
    elapsed = time.monotonic() - started
    assert 1.8 <= elapsed < 6  # 10 req/s with a one-second burst: 30 requests take about 2 s


def test_payload_carries_sampling_parameters() -> None:
    t = OpenAITeacher("m", None)
    r = ChatRequest(
        key="k",
        messages=({"role": "user", "content": "x"},),
        sampling=SamplingParams(temperature=0.7, top_p=0.9, max_tokens=5, seed=3),
    )
    assert t.payload(r) == {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 5,
        "seed": 3,
    }


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past


def test_rate_bucket_settles_estimates() -> None:
    async def scenario() -> float:
        bucket = RateBucket(per_minute=600)  # 10/s, capacity 10
        taken = await bucket.acquire(10)
        assert taken == 10
        bucket.settle(-5)  # used 5 fewer than reserved
        started = time.monotonic()
        await bucket.acquire(5)  # available at once after the refund
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 0.1


def test_penalties_reach_the_request_and_the_call_key() -> None:
    from herdsman.records import SamplingParams
    from herdsman.store.run_store import call_key
    from herdsman.teachers.base import ChatRequest
    from herdsman.teachers.vllm_offline import sampling_kwargs

    messages = ({"role": "user", "content": "Write a poem."},)
    plain = SamplingParams(temperature=0.0, max_tokens=32)
    penalised = SamplingParams(
        temperature=0.0, max_tokens=32, frequency_penalty=0.5, presence_penalty=0.2,
        repetition_penalty=1.2,
    )  # fmt: skip
    teacher = OpenAITeacher("m", None)
    body = teacher.payload(ChatRequest("k", messages, penalised))
    assert body["frequency_penalty"] == 0.5 and body["presence_penalty"] == 0.2
    assert "frequency_penalty" not in teacher.payload(ChatRequest("k", messages, plain))
    assert sampling_kwargs(ChatRequest("k", messages, penalised))["repetition_penalty"] == 1.2
    keys = {
        call_key("openai", "m", messages, s.model_dump(), endpoint="e") for s in (plain, penalised)
    }
    assert len(keys) == 2
