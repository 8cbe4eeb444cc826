"""``herdsman analyze`` on 50,000 real instructions: time split, and batched vs one-at-a-time embedding.

Data (the public test data, docs/testing.md): 5,000 Alpaca instructions with their outputs, 21,955
P3 prompts with completions, the 175 Self-Instruct seeds, filled up to 50,000
with sentences of Alpaca outputs and P3 prompts used as instructions
(labelled as such).

Prints the time of each step of ``analyze`` and the ratio of embedding
throughput with the batch size analyze uses to one text at a time, both
measured on the same 1,000 texts in this run.

Usage: python benchmarks/bench_analyze.py [--data DIR] [--n 50000]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tests.helpers
from herdsman.dataset.analyze import AnalyzeSettings, analyze
from herdsman.dataset.embeddings import embed, load_embedder
from tests.helpers.data import public_data


def lamini_rows(data: Path, n: int) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    filler: list[str] = []
    for r in json.loads((data / "alpaca" / "alpaca_5000.json").read_text()):
        text = r["instruction"] + ("\n\n" + r["input"] if r["input"] else "")
        rows.append({"instruction": text, "response": r["output"], "instruction_source": "alpaca"})
        filler += [s for s in re.split(r"(?<=[.!?])\s+", r["output"]) if len(s.split()) >= 4]
    for path in sorted((data / "p3_templates").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            r = json.loads(line)
            completion = r["completion"].replace("<|endoftext|>", "").strip()
            filler += [s for s in re.split(r"(?<=[.!?])\s+", r["prompt"]) if len(s.split()) >= 4]
            rows.append(
                {
                    "instruction": r["prompt"],
                    "response": completion,
                    "instruction_source": "original_p3",
                }
            )
    for line in (data / "self_instruct" / "seed_tasks.jsonl").read_text().splitlines():
        r = json.loads(line)
        rows.append(
            {
                "instruction": r["instruction"],
                "response": r["instances"][0]["output"],
                "instruction_source": "self_instruct_without_topic",
            }
        )
    random.Random(0).shuffle(filler)
    for sentence in filler[: max(0, n - len(rows))]:
        rows.append(
            {
                "instruction": sentence,
                "response": "",
                "instruction_source": "filler_sentence",
            }
        )
    if len(rows) < n:
        raise SystemExit(f"only {len(rows)} rows available")
    random.Random(42).shuffle(rows)
    return rows[:n]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=public_data())
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    rows = lamini_rows(args.data.resolve(), args.n)

    model = load_embedder()
    sample = [r["instruction"] for r in random.Random(1).sample(rows, 1000)]
    embed(model, sample[:64], args.batch_size)  # warm-up
    started = time.perf_counter()
    for text in sample:
        embed(model, [text], 1)
    one_s = time.perf_counter() - started
    started = time.perf_counter()
    embed(model, sample, args.batch_size)
    batched_s = time.perf_counter() - started
    print(
        f"embedding 1,000 instructions: one at a time {1000 / one_s:.0f}/s, "
        f"batch {args.batch_size} {1000 / batched_s:.0f}/s -> {one_s / batched_s:.1f}x"
    )

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lamini.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        started = time.perf_counter()
        result = analyze(path, Path(tmp) / "out", AnalyzeSettings(batch_size=args.batch_size))
        total = time.perf_counter() - started
    print(f"analyze on {args.n:,} instructions: {total:.0f} s in total")
    for step, seconds in result.timings.items():
        print(f"  {step:<14} {seconds:8.1f} s  ({seconds / total:.0%})")
    div = result.numbers["diversity"]
    print(
        f"  diversity: mean cosine distance {div['mean_cosine_distance']}, "
        f"leading-word share {div['leading_word_share']}, distinct-2 {div['distinct_2']}"
    )


if __name__ == "__main__":
    main()
