"""``generate`` at the paper's scale, against a loopback teacher that writes template-heavy text.

Each size runs in its own process (time, peak RSS from ``wait4``): a loopback
OpenAI-compatible server answers every generation call with the next 20
instructions of a stream built from real texts (the scale corpus's fresh,
template-heavy rows: ``benchmarks/scale_corpus.py``), a tenth of them planted
near duplicates of an instruction it sent earlier (one-word edit, two words
swapped, a word dropped or a clause added), each planted pair recorded. The
process runs herdsman's ``generate`` (the online near-duplicate check,
``--dedup-method``, default lsh) until N instructions are kept, then measures:

- time, peak memory, instructions kept per second, the growth exponent
  between sizes (log-log slope);
- recall of the planted near duplicates that the Self-Instruct rule drops
  (ROUGE-L F above 0.7 against their original) and whose original was kept:
  the share of them ``generate`` dropped;
- an exhaustive check on a random sample of kept instructions: no pair in
  the sample above the threshold.

Usage: python benchmarks/bench_generate.py [--sizes 50000 200000 1000000 2580000] [--method lsh]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tests.helpers
sys.path.insert(0, str(Path(__file__).resolve().parent))

import scale_corpus
from aiohttp import web

from herdsman.generation.dedup import lcs_with_masks, match_masks, rouge_l_f, rouge_tokens
from tests.helpers.data import public_data

PER_CALL = 20
PLANTED = 0.10
SAMPLE = 2000


class Stream:
    """Template-heavy instructions with planted near duplicates, recorded."""

    def __init__(self, seed: int = 0) -> None:
        self.pools = scale_corpus.load_pools(public_data())
        self.rng = random.Random(seed)
        self.recent: list[str] = []
        self.planted: list[tuple[str, str]] = []  # (near duplicate, original)
        self.lock = threading.Lock()

    def take(self, n: int) -> list[str]:
        out = []
        with self.lock:
            for _ in range(n):
                if self.recent and self.rng.random() < PLANTED:
                    original = self.rng.choice(self.recent)
                    text = scale_corpus._near(self.rng, self.pools, original)
                    self.planted.append((text, original))
                else:
                    source = self.rng.choice(list(scale_corpus.MIX))
                    text = scale_corpus._fresh(self.rng, self.pools, source)
                if len(self.recent) < 20_000:
                    self.recent.append(text)
                else:
                    self.recent[self.rng.randrange(20_000)] = text
                out.append(text)
        return out


def serve(stream: Stream) -> str:
    """Start the loopback teacher in a thread; return its base URL."""
    ready = threading.Event()
    where: dict[str, str] = {}

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        items = stream.take(PER_CALL)
        text = "\n".join(f"<example>{t}</example>" for t in items)
        reply = {
            "id": "x",
            "object": "chat.completion",
            "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 200, "completion_tokens": 30 * PER_CALL},
        }  # fmt: skip
        return web.json_response(reply)

    def run() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        where["url"] = f"http://127.0.0.1:{port}/v1"
        ready.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    ready.wait()
    return where["url"]


def child(n: int, method: str, out: Path) -> None:
    """One size: generate N against the loopback teacher; write the figures as JSON."""
    from herdsman.generation.generate import GenerateSettings, generate
    from herdsman.generation.prompts import Planner
    from herdsman.generation.seeds import load_seeds
    from herdsman.records import SamplingParams
    from herdsman.store.run_store import RunStore
    from herdsman.teachers.openai_http import OpenAISettings, OpenAITeacher

    stream = Stream()
    url = serve(stream)
    teacher = OpenAITeacher("loopback", None, OpenAISettings(base_url=url, concurrency=64))
    seeds = list(load_seeds(public_data() / "self_instruct" / "seed_tasks.jsonl", "auto"))
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        generated = Path(tmp) / "generated.jsonl"
        settings = GenerateSettings(
            n=n, wave=64, dedup_method=method, max_calls=4 * n // PER_CALL + 64,
            sampling=SamplingParams(temperature=1.0, max_tokens=1024),
        )  # fmt: skip
        start = time.perf_counter()
        with RunStore(Path(tmp) / "store.sqlite") as store:
            report = generate(teacher, store, Planner("example", seeds), settings, generated)
        seconds = time.perf_counter() - start
        kept = [json.loads(line)["instruction"] for line in generated.open()]
    kept_set = set(kept)
    threshold = settings.threshold
    relevant = dropped = 0
    for text, original in stream.planted:
        if original not in kept_set:
            continue
        a, b = rouge_tokens(original), rouge_tokens(text)
        if rouge_l_f(lcs_with_masks(match_masks(a), len(a), b), len(a), len(b)) <= threshold:
            continue
        relevant += 1
        dropped += text not in kept_set
    rng = random.Random(1)
    sample = [rouge_tokens(t) for t in rng.sample(kept, min(SAMPLE, len(kept)))]
    above = 0
    for i, a in enumerate(sample):
        masks = match_masks(a)
        for b in sample[i + 1 :]:
            if a and b and rouge_l_f(lcs_with_masks(masks, len(a), b), len(a), len(b)) > threshold:
                above += 1
    result = {
        "n": n,
        "method": method,
        "kept": report.kept,
        "calls": report.calls,
        "seconds": seconds,
        "per_second": report.kept / seconds,
        "near_dropped": report.near_duplicates,
        "exact_dropped": report.exact_duplicates,
        "planted_relevant": relevant,
        "planted_dropped": dropped,
        "recall": dropped / relevant if relevant else None,
        "sample": len(sample),
        "sample_pairs_above": above,
    }
    out.write_text(json.dumps(result))


def main() -> None:
    """Run each size in its own process and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[50_000, 200_000, 1_000_000, 2_580_000]
    )
    parser.add_argument("--method", default="lsh")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.method, args.out)
        return
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            out = Path(tmp) / f"{n}.json"
            proc = subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    str(n),
                    "--method",
                    args.method,
                    "--out",
                    str(out),
                ]
            )
            _, status, usage = os.wait4(proc.pid, 0)
            if status != 0:
                print(f"{n}: failed (status {status})")
                continue
            row = json.loads(out.read_text())
            row["peak_mb"] = usage.ru_maxrss / 1024
            rows.append(row)
            print(
                f"{n:>9,}: {row['seconds']:7.1f} s, {row['per_second']:7.0f} instructions/s, "
                f"peak {row['peak_mb']:6.0f} MB, recall of planted near duplicates "
                f"{row['recall']:.4f} ({row['planted_dropped']}/{row['planted_relevant']}), "
                f"sample of {row['sample']}: {row['sample_pairs_above']} pairs above the threshold",
                flush=True,
            )
    for a, b in itertools.pairwise(rows):
        slope = math.log(b["seconds"] / a["seconds"]) / math.log(b["n"] / a["n"])
        print(f"growth {a['n']:,} -> {b['n']:,}: time exponent {slope:.2f}")


if __name__ == "__main__":
    main()
