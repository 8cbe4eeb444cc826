"""A deterministic OpenAI-compatible chat server with fault injection.

For dry runs of a pipeline without spending money, and for herdsman's own
tests and benchmarks (a real HTTP server on loopback, not a mocked client).

The answer to a request is ``"echo: " + <last user message>``; a generation
prompt (one :func:`herdsman.generation.prompts.requested_count` reads a count
N from) gets N ``<example>`` items made of words drawn deterministically from
the prompt's hash, or a refusal when the server runs with
``refuse_generation``; an A-D grading prompt (one
:func:`herdsman.evaluate.judge.answer_under_grading` reads an answer from)
gets the grade :func:`stub_grade` gives the answer, so a judge run against the
stub grades every answer. The stub never parses those prompts itself: their
owning modules read them back. Markers inside the user message inject faults,
counted per distinct message:

- ``[[429:N]]`` / ``[[503:N]]``: the first N requests get that status with ``Retry-After: 1``
- ``[[500:N]]``: the first N requests get HTTP 500
- ``[[badjson:N]]``: the first N responses are not JSON
- ``[[empty:N]]``: the first N responses have ``choices: []``
- ``[[always500]]``: always HTTP 500; ``[[400]]``: always HTTP 400
- ``[[length]]``: answer with ``finish_reason: "length"``
- ``[[batch-drop]]``: (Batch API) the line gets no output, as in an expired batch
- ``[[replies:X|Y|...]]`` anywhere in the conversation: answer the k-th of X, Y, ...
  where k counts the assistant turns so far (the last one repeats): a scripted
  model, e.g. a judge that rambles first and grades when reminded

It also speaks the Batch API (``POST /v1/files``, ``POST /v1/batches``,
``GET /v1/batches`` (paged), ``GET /v1/batches/ID``, ``GET /v1/files/ID/content``): a batch is
``in_progress`` at its first poll and ends at its third, each line answered as
above.

Run: ``python -m herdsman.testing.stub_server --port 0 [--delay 0.1] [--api-key KEY]``;
it prints ``PORT <n>`` once listening. ``GET /stats`` returns request counts.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import threading
import zlib
from collections import Counter
from typing import Any

import orjson
from aiohttp import web

from herdsman.evaluate.judge import (
    answer_under_grading,
    answers_under_comparison,
    reference_under_grading,
)
from herdsman.generation.prompts import requested_count

MARKER = re.compile(r"\[\[(\w+)(?::(\d+))?\]\]")

_WORDS = [
    "explain",
    "describe",
    "compare",
    "list",
    "suggest",
    "summarize",
    "write",
    "plan",
    "classify",
    "translate",
    "rank",
    "outline",
    "river",
    "mountain",
    "budget",
    "recipe",
    "poem",
    "letter",
    "story",
    "garden",
    "planet",
    "engine",
    "market",
    "language",
    "history",
    "music",
    "festival",
    "bridge",
    "forest",
    "ocean",
    "desert",
    "city",
    "village",
    "museum",
    "library",
    "hospital",
    "school",
    "train",
    "coffee",
    "bicycle",
    "camera",
    "winter",
    "summer",
    "dragon",
    "robot",
    "violin",
    "castle",
    "island",
    "volcano",
    "galaxy",
    "theory",
    "habit",
    "ritual",
    "puzzle",
    "treaty",
    "harvest",
    "lantern",
    "compass",
    "journal",
    "orchard",
    "glacier",
    "meadow",
    "canyon",
]


def echo_answer(user_content: str, prefix: str = "echo: ") -> str:
    """The answer the stub gives to a (non-generation) user message."""
    return prefix + user_content


def stub_grade(answer: str) -> str:
    """The stub judge's grade of an answer: a letter A-D fixed by the answer's SHA-256."""
    import hashlib

    return "ABCD"[hashlib.sha256(answer.encode()).digest()[0] % 4]


def judge_grade(user_content: str, mode: str = "hash") -> str | None:
    """The stub judge's grade for a grading prompt (``None``: not one); see ``StubState.judge``."""
    answer = answer_under_grading(user_content)
    if answer is None:
        return None
    if mode == "random":
        import hashlib
        import random

        return random.Random(hashlib.sha256(user_content.encode()).hexdigest()).choice("ABCD")
    reference = reference_under_grading(user_content)
    if mode == "rule" and reference is not None:
        from rouge_score.rouge_scorer import _score_lcs

        from herdsman.generation.dedup import rouge_tokens

        f = _score_lcs(rouge_tokens(reference), rouge_tokens(answer)).fmeasure
        return "A" if f >= 0.9 else "B" if f >= 0.6 else "C" if f >= 0.3 else "D"
    return stub_grade(answer)


def grade_reply(user_content: str, mode: str = "hash") -> str | None:
    """The stub's reply to an A-D grading prompt, or ``None`` if it is not one."""
    grade = judge_grade(user_content, mode)
    return None if grade is None else f"{grade}. Graded by the stub."


def generation_reply(user_content: str, refuse: bool = False) -> str | None:
    """The stub's reply to a generation prompt, or ``None`` if it is not one."""
    count = requested_count(user_content)
    if count is None:
        return None
    if refuse:
        return "I'm sorry, but I can't help with that request."
    import hashlib
    import random

    rng = random.Random(hashlib.sha256(user_content.encode()).hexdigest())
    items = []
    for _ in range(count):
        words = rng.sample(_WORDS, 9)
        items.append(
            f"<example>{words[0].capitalize()} the {' '.join(words[1:])} for a curious reader.</example>"
        )
    return "Here are the examples:\n" + "\n".join(items)


class StubState:
    """Counters shared by the handlers."""

    def __init__(self, delay: float, api_key: str | None, refuse_generation: bool = False) -> None:
        self.delay = delay
        self.api_key = api_key
        self.refuse_generation = refuse_generation
        self.echo_prefix = "echo: "
        #: Answer ``logprobs`` requests with ``top_logprobs`` (off: as a server without them).
        self.logprobs = True
        self.requests = 0
        self.by_content: Counter[str] = Counter()
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.batch_polls = 0
        self.batch_lists = 0
        self.polls_to_finish = 3
        self.expire_batches = False
        #: How the stub judge grades: ``hash`` (a fixed letter per answer), ``random`` (a
        #: letter per prompt, blind to the answer) or ``rule`` (by overlap with the
        #: reference answer of a reference-guided prompt: a judge that can tell).
        self.judge = "hash"


STATE: web.AppKey[StubState] = web.AppKey("state", StubState)


_SCRIPT = re.compile(r"\[\[replies:([^\]]*)\]\]")


def _scripted(messages: list[dict[str, Any]]) -> str | None:
    for message in messages:
        match = _SCRIPT.search(str(message.get("content", "")))
        if match:
            replies = match.group(1).split("|")
            turn = sum(m.get("role") == "assistant" for m in messages)
            return replies[min(turn, len(replies) - 1)]
    return None


def reply_to(state: StubState, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    """The stub's answer to one chat-completions body: (status, JSON or raw text, headers)."""
    messages = body.get("messages") or []
    user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    state.by_content[user] += 1
    seen = state.by_content[user]
    for name, count in MARKER.findall(user):
        n = int(count) if count else 0
        if name in ("429", "503") and seen <= n:
            return int(name), {"error": {"message": "Rate limit reached"}}, {"Retry-After": "1"}
        if name == "500" and seen <= n:
            return 500, {"error": {"message": "server error"}}, {}
        if name == "always500":
            return 500, {"error": {"message": "server error"}}, {}
        if name == "400":
            return 400, {"error": {"message": "context length exceeded"}}, {}
        if name == "badjson" and seen <= n:
            return 200, '{"choices": [ {"message": ', {}
        if name == "empty" and seen <= n:
            return 200, {"id": "x", "choices": [], "usage": {}}, {}
    finish = "length" if "[[length]]" in user else "stop"
    answer = (
        _scripted(messages)
        or generation_reply(user, state.refuse_generation)
        or grade_reply(user, state.judge)
        or echo_answer(user, state.echo_prefix)
    )
    logprobs = None
    graded = answer_under_grading(user)
    if body.get("logprobs") and state.logprobs and graded is not None and not _scripted(messages):
        # The stub judge is sure of its grade and spreads a little on the others.
        grade = judge_grade(user, state.judge) or stub_grade(graded)
        top = [{"token": g, "logprob": math.log(0.7 if g == grade else 0.1)} for g in "ABCD"]
        logprobs = {"content": [{"token": grade, "logprob": math.log(0.7), "top_logprobs": top}]}
    elif (
        body.get("logprobs")
        and state.logprobs
        and answers_under_comparison(user)
        and not _scripted(messages)
    ):
        # The stub's pairwise judge prefers the longer answer, whichever order it is shown in.
        first, second = answers_under_comparison(user) or ("", "")
        pick = "1" if len(first) >= len(second) else "2"
        top = [{"token": c, "logprob": math.log(0.7 if c == pick else 0.3)} for c in "12"]
        logprobs = {"content": [{"token": pick, "logprob": math.log(0.7), "top_logprobs": top}]}
    elif body.get("logprobs") and body.get("top_logprobs") and state.logprobs:
        logprobs = {"content": answer_logprobs(answer, int(body["top_logprobs"]))}
    completion = {
        "id": f"chatcmpl-{state.requests}",
        "object": "chat.completion",
        "model": body.get("model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": finish,
                "logprobs": logprobs,
            }
        ],
        "usage": {
            "prompt_tokens": sum(len(m.get("content", "").split()) for m in messages),
            "completion_tokens": len(answer.split()),
        },
    }
    return 200, completion, {}


def stub_token_ids(answer: str) -> list[int]:
    """The ids the stub gives an answer's tokens (one per word): a deterministic hash."""
    return [100 + zlib.crc32(piece.encode()) % 40_000 for piece in re.findall(r"\s*\S+", answer)]


def answer_logprobs(answer: str, k: int) -> list[dict[str, Any]]:
    """``logprobs.content`` for an answer, as a vLLM server with
    ``--return-tokens-as-token-ids`` gives it: the token at 0.8, then ``k - 1`` others."""
    content = []
    for token in stub_token_ids(answer):
        top = [{"token": f"token_id:{token}", "logprob": math.log(0.8)}]
        top += [
            {"token": f"token_id:{token + j}", "logprob": math.log(0.1 / j)} for j in range(1, k)
        ]
        content.append(
            {"token": f"token_id:{token}", "logprob": math.log(0.8), "top_logprobs": top}
        )
    return content


def _authorised(state: StubState, request: web.Request) -> bool:
    return (
        state.api_key is None or request.headers.get("Authorization") == f"Bearer {state.api_key}"
    )


_UNAUTHORISED = {"error": {"message": "Incorrect API key provided"}}


async def _chat(request: web.Request) -> web.Response:
    state: StubState = request.app[STATE]
    state.requests += 1
    if not _authorised(state, request):
        return web.json_response(_UNAUTHORISED, status=401)
    body: dict[str, Any] = await request.json()
    if state.delay:
        await asyncio.sleep(state.delay)
    status, payload, headers = reply_to(state, body)
    if isinstance(payload, str):
        return web.Response(text=payload, content_type="application/json", headers=headers)
    return web.json_response(payload, status=status, headers=headers)


# -- Batch API: files and batches, processed in memory ------------------------------------


async def _upload(request: web.Request) -> web.Response:
    state: StubState = request.app[STATE]
    if not _authorised(state, request):
        return web.json_response(_UNAUTHORISED, status=401)
    form = await request.post()
    upload = form.get("file")
    if form.get("purpose") != "batch" or not hasattr(upload, "file"):
        return web.json_response(
            {"error": {"message": "purpose=batch and a file needed"}}, status=400
        )
    file_id = f"file-{len(state.files)}"
    state.files[file_id] = upload.file.read()  # type: ignore[union-attr]
    return web.json_response({"id": file_id, "object": "file", "purpose": "batch"})


async def _create_batch(request: web.Request) -> web.Response:
    state: StubState = request.app[STATE]
    if not _authorised(state, request):
        return web.json_response(_UNAUTHORISED, status=401)
    body = await request.json()
    if body.get("input_file_id") not in state.files:
        return web.json_response({"error": {"message": "no such file"}}, status=404)
    batch_id = f"batch-{len(state.batches)}"
    state.batches[batch_id] = {
        "id": batch_id, "status": "validating", "input_file_id": body["input_file_id"],
        "polls": 0, "output_file_id": None, "error_file_id": None,
    }  # fmt: skip
    return web.json_response(state.batches[batch_id])


def _finish_batch(state: StubState, batch: dict[str, Any]) -> None:
    """Answer every line; lines marked [[batch-drop]] get no output (as if expired)."""
    out, errors = [], []
    for line in state.files[batch["input_file_id"]].splitlines():
        if not line.strip():
            continue
        item = orjson.loads(line)
        if "[[batch-drop]]" in orjson.dumps(item["body"]).decode():
            continue
        state.requests += 1
        status, payload, _ = reply_to(state, item["body"])
        if isinstance(payload, str) or status != 200:
            errors.append({"custom_id": item["custom_id"], "response": {
                "status_code": status, "body": payload if isinstance(payload, dict) else {}},
                "error": None})  # fmt: skip
            continue
        out.append({"custom_id": item["custom_id"],
                    "response": {"status_code": 200, "body": payload}, "error": None})  # fmt: skip
    for name, rows in (("output_file_id", out), ("error_file_id", errors)):
        if rows:
            file_id = f"file-{len(state.files)}"
            state.files[file_id] = b"".join(orjson.dumps(r) + b"\n" for r in rows)
            batch[name] = file_id
    batch["status"] = "expired" if state.expire_batches else "completed"


async def _list_batches(request: web.Request) -> web.Response:
    """``GET /v1/batches``: newest first, ``limit`` per page, ``after`` an id (as the API pages)."""
    state: StubState = request.app[STATE]
    if not _authorised(state, request):
        return web.json_response(_UNAUTHORISED, status=401)
    limit = int(request.query.get("limit", "20"))
    ids = list(reversed(state.batches))
    after = request.query.get("after")
    if after in ids:
        ids = ids[ids.index(after) + 1 :]
    page = [{k: v for k, v in state.batches[i].items() if k != "polls"} for i in ids[:limit]]
    state.batch_lists += 1
    return web.json_response({"object": "list", "data": page, "has_more": len(ids) > limit})


async def _get_batch(request: web.Request) -> web.Response:
    state: StubState = request.app[STATE]
    batch = state.batches.get(request.match_info["batch_id"])
    if batch is None:
        return web.json_response({"error": {"message": "no such batch"}}, status=404)
    batch["polls"] += 1
    state.batch_polls += 1
    if batch["status"] not in ("completed", "expired"):
        if batch["polls"] == 1:
            batch["status"] = "in_progress"
        elif batch["polls"] >= state.polls_to_finish:
            _finish_batch(state, batch)
    return web.json_response({k: v for k, v in batch.items() if k != "polls"})


async def _file_content(request: web.Request) -> web.Response:
    state: StubState = request.app[STATE]
    content = state.files.get(request.match_info["file_id"])
    if content is None:
        return web.json_response({"error": {"message": "no such file"}}, status=404)
    return web.Response(body=content, content_type="application/octet-stream")


async def _stats(request: web.Request) -> web.Response:
    state: StubState = request.app[STATE]
    return web.json_response({"requests": state.requests, "by_content": dict(state.by_content)})


def make_app(
    delay: float = 0.0, api_key: str | None = None, refuse_generation: bool = False
) -> web.Application:
    """The stub server's aiohttp application."""
    app = web.Application()
    app[STATE] = StubState(delay, api_key, refuse_generation)
    app.router.add_post("/v1/chat/completions", _chat)
    app.router.add_post("/v1/files", _upload)
    app.router.add_post("/v1/batches", _create_batch)
    app.router.add_get("/v1/batches", _list_batches)
    app.router.add_get("/v1/batches/{batch_id}", _get_batch)
    app.router.add_get("/v1/files/{file_id}/content", _file_content)
    app.router.add_get("/stats", _stats)
    return app


class StubServer:
    """Runs the stub on 127.0.0.1 in a background thread (a context manager).

    Attributes:
        port: The port it listens on (chosen by the OS).
        url: Base URL to pass as ``--base-url``.
    """

    def __init__(
        self, delay: float = 0.0, api_key: str | None = None, refuse_generation: bool = False
    ) -> None:
        self.app = make_app(delay, api_key, refuse_generation)
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def state(self) -> StubState:
        state: StubState = self.app[STATE]
        return state

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._runner = web.AppRunner(self.app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = self._runner.addresses[0][1]
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())

    def __enter__(self) -> StubServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def main() -> None:
    """Run the stub in the foreground until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args()

    async def serve() -> None:
        runner = web.AppRunner(make_app(args.delay, args.api_key), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, args.host, args.port, backlog=1024)
        await site.start()
        print(f"PORT {runner.addresses[0][1]}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
