"""``herdsman respond`` at the paper's scale, through its real async path, killed and resumed.

A loopback OpenAI-compatible server (its own process, answering at once with
a deterministic answer of 20-150 words per instruction) counts every request
and the distinct instructions it was asked. ``herdsman respond`` (the command,
``--teacher openai``, 64 requests in flight) answers N instructions into a
fresh run store; when the store holds ``--kill-at`` answers the process gets
``SIGKILL``; the same command is then run again to the end. Measured:

- calls per second of each part, and over the whole job;
- the store's size on disk (bytes per call) and each part's peak RSS;
- nothing lost: the output holds every instruction once, in input order,
  each with the server's answer to it, and the store holds N answers;
- nothing repeated beyond the calls in flight: requests the server saw
  minus distinct instructions (at most the concurrency).

Usage: python benchmarks/bench_respond_scale.py [--n 2580000] [--kill-at 1000000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONCURRENCY = 64

SERVER = r"""
import hashlib, sys
from aiohttp import web

WORDS = "the a model answer gives short clear steps for each part of this question".split()
requests = 0
seen = set()


def answer(text):
    h = hashlib.blake2b(text.encode(), digest_size=8).digest()
    n = 20 + int.from_bytes(h[:2], "big") % 131
    return " ".join(WORDS[(h[2] + i) % len(WORDS)] for i in range(n)) + "."


async def chat(request):
    global requests
    body = await request.json()
    text = body["messages"][-1]["content"]
    requests += 1
    seen.add(hashlib.blake2b(text.encode(), digest_size=8).digest())
    reply = answer(text)
    return web.json_response({
        "id": "x", "object": "chat.completion", "model": body.get("model"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 40, "completion_tokens": len(reply.split())},
    })


async def stats(request):
    return web.json_response({"requests": requests, "distinct": len(seen)})


app = web.Application()
app.router.add_post("/v1/chat/completions", chat)
app.router.add_get("/stats", stats)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def answer(text: str) -> str:
    """The server's answer to an instruction (the same function as in SERVER)."""
    words = [
        "the",
        "a",
        "model",
        "answer",
        "gives",
        "short",
        "clear",
        "steps",
        "for",
        "each",
        "part",
        "of",
        "this",
        "question",
    ]
    h = hashlib.blake2b(text.encode(), digest_size=8).digest()
    n = 20 + int.from_bytes(h[:2], "big") % 131
    return " ".join(words[(h[2] + i) % len(words)] for i in range(n)) + "."


def instruction(i: int) -> str:
    return f"Explain, in a few sentences, what item {i} of the scale benchmark is about."


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stats(port: int) -> dict[str, int]:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=60) as response:
        return dict(json.loads(response.read()))


def stored(store: Path) -> int:
    """Answers in the store so far (the largest row id: cheap at any size)."""
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute("SELECT MAX(id) FROM calls").fetchone()
    except sqlite3.Error:  # the schema is not there yet
        return 0
    return int(row[0] or 0)


def run_respond(
    command: list[str], store: Path, kill_at: int | None
) -> tuple[float, int, int, int]:
    """Run respond; with ``kill_at``, SIGKILL it once the store holds that many answers.

    Returns seconds, exit status (negative: killed), peak RSS in bytes, answers stored at the end.
    """
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while kill_at is not None and process.poll() is None:
        if stored(store) >= kill_at:
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.5)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code > 0:
        assert process.stderr is not None
        raise SystemExit(f"respond failed ({code}): {process.stderr.read().decode()[-2000:]}")
    return seconds, code, usage.ru_maxrss * 1024, stored(store)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_580_000)
    parser.add_argument("--kill-at", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp one)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="respond-scale-", dir=args.dir))
    src, out, store = work / "in.jsonl", work / "out.jsonl", work / "store.sqlite"
    with src.open("w") as f:
        for i in range(args.n):
            f.write(json.dumps({"instruction": instruction(i)}) + "\n")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    for _ in range(100):
        try:
            stats(port)
            break
        except OSError:
            time.sleep(0.1)
    command = [
        sys.executable, "-m", "herdsman", "respond", str(src), "-o", str(out),
        "--store", str(store), "--teacher", "openai", "--model", "loopback",
        "--base-url", f"http://127.0.0.1:{port}/v1", "--concurrency", str(CONCURRENCY),
    ]  # fmt: skip
    try:
        first = run_respond(command, store, args.kill_at)
        after_kill = stats(port)
        second = run_respond(command, store, None)
        final = stats(port)
    finally:
        server.kill()
        server.wait()

    rows = 0
    for line, text in enumerate(out.open(), start=0):
        record = json.loads(text)
        assert record["instruction"] == instruction(line), line
        assert record["response"] == answer(instruction(line)), line
        rows += 1
    assert rows == args.n, rows
    with sqlite3.connect(store) as conn:
        in_store = conn.execute("SELECT COUNT(*) FROM calls WHERE status = 'ok'").fetchone()[0]
    size = sum(p.stat().st_size for p in work.glob("store.sqlite*"))
    repeated = final["requests"] - final["distinct"]
    total_seconds = first[0] + second[0]
    result = {
        "n": args.n,
        "kill_at": args.kill_at,
        "first": {"seconds": first[0], "exit": first[1], "rss": first[2], "stored": first[3],
                  "server_requests": after_kill["requests"]},
        "second": {"seconds": second[0], "exit": second[1], "rss": second[2],
                   "calls": second[3] - first[3]},
        "calls_per_second": args.n / total_seconds,
        "store_bytes": size,
        "store_bytes_per_call": size / args.n,
        "output_rows": rows,
        "store_rows": in_store,
        "server_requests": final["requests"],
        "distinct_instructions_asked": final["distinct"],
        "repeated_calls": repeated,
    }  # fmt: skip
    (work / "result.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    print(
        f"respond {args.n:,} calls, SIGKILL at {first[3]:,} stored: "
        f"{first[0]:.0f} s + {second[0]:.0f} s = {total_seconds:.0f} s, "
        f"{result['calls_per_second']:.0f} calls/s; store {size / 1e9:.2f} GB "
        f"({size / args.n:.0f} B/call); peak RSS {max(first[2], second[2]) / 1e6:.0f} MB; "
        f"lost {args.n - rows}, repeated {repeated} (in flight: {CONCURRENCY})"
    )
    assert in_store == args.n and final["distinct"] == args.n
    assert 0 <= repeated <= CONCURRENCY, repeated
    out.unlink()
    src.unlink()


if __name__ == "__main__":
    main()
