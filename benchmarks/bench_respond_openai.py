"""`respond` through the openai backend against a loopback server that answers after 100 ms.

With concurrency 64 the ideal is 640 requests/s; the issue asks for at least
85% of it with the run-store writes included. The stub server runs in its own
process (as a real endpoint would) and the whole ``respond`` stage is timed:
input read, key lookups, calls, one commit per result, output written.

Usage: python benchmarks/bench_respond_openai.py [--n 3200] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from herdsman.generation.respond import respond
from herdsman.store.run_store import RunStore
from herdsman.teachers.openai_http import OpenAISettings, OpenAITeacher

DELAY_S = 0.1


def timed_respond(port: int, n: int, concurrency: int, tag: str) -> float:
    """Run the whole ``respond`` stage on ``n`` fresh instructions; return requests/s."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.jsonl"
        src.write_text(
            "".join(
                json.dumps({"instruction": f"Benchmark {tag} question {i}?"}) + "\n"
                for i in range(n)
            )
        )
        teacher = OpenAITeacher(
            "bench",
            None,
            OpenAISettings(base_url=f"http://127.0.0.1:{port}/v1", concurrency=concurrency),
        )
        with RunStore(Path(tmp) / "store.sqlite") as store:
            started = time.perf_counter()
            report = respond(teacher, store, src, Path(tmp) / "out.jsonl")
            elapsed = time.perf_counter() - started
            assert report.written == n and store.totals().ok == n
    return n / elapsed


def raw_aiohttp(port: int, n: int, concurrency: int) -> float:
    """Reference: bare aiohttp posts with the same concurrency (no herdsman at all)."""
    import asyncio

    import aiohttp

    async def go() -> None:
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        body = {"model": "m", "messages": [{"role": "user", "content": "raw"}]}
        jobs = iter(range(n))
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency)
        ) as session:

            async def worker() -> None:
                for _ in jobs:
                    async with session.post(url, json=body) as response:
                        await response.read()

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    started = time.perf_counter()
    asyncio.run(go())
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=3200)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    server = subprocess.Popen(
        [sys.executable, "-m", "herdsman.testing.stub_server", "--delay", str(DELAY_S)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    port = int(server.stdout.readline().split()[1])
    try:
        timed_respond(port, 256, args.concurrency, "warm-up")  # first connections, code paths
        rates = [
            timed_respond(port, args.n, args.concurrency, f"run{r}") for r in range(args.repeats)
        ]
        raw = raw_aiohttp(port, args.n, args.concurrency)
    finally:
        server.kill()
        server.wait()

    ideal = args.concurrency / DELAY_S
    median = statistics.median(rates)
    print(
        f"respond via openai backend: {args.n} requests per run, concurrency {args.concurrency}, "
        f"{DELAY_S * 1000:.0f} ms server latency, whole stage timed (store writes, output file)"
    )
    print(f"  ideal (baseline)   : {ideal:8.1f} requests/s")
    print(f"  runs               : {', '.join(f'{r:.1f}' for r in rates)} requests/s")
    print(f"  median ratio       : {median / ideal:8.3f}  (target >= 0.85)")
    print(f"  worst ratio        : {min(rates) / ideal:8.3f}")
    print(f"  bare aiohttp, same server and concurrency (ceiling here): {raw / ideal:.3f} of ideal")


if __name__ == "__main__":
    main()
