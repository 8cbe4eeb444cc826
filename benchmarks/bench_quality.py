"""The answer-quality gate on 100,000 answers: time per answer and share flagged per rule.

Answers (default 100,000) are drawn with replacement from real ones: Alpaca's
5,000 outputs, and the three Self-Instruct models' answers to 252 user-oriented
instructions (raw GPT-3 davinci loops, text-davinci-003 does not), each paired
with its own instruction; one in twenty is marked cut by ``max_tokens``, as a
teacher at a tight limit produces. Baseline in the same run: reading and
writing the same JSONL without any rule (the gate's I/O floor).

Usage: python benchmarks/bench_quality.py [--n 100000] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tests.helpers
from herdsman.dataset.quality import RULES, QualitySettings, gate
from herdsman.io.jsonl import iter_json_objects, write_jsonl_atomic
from herdsman.records import render_instruction
from tests.helpers.data import public_data


def real_answers(data: Path) -> list[dict[str, str]]:
    """Instruction-answer pairs from Alpaca and the Self-Instruct predictions."""
    rows = [
        {"instruction": render_instruction(r["instruction"], r["input"]), "response": r["output"]}
        for r in json.loads((data / "alpaca" / "alpaca_5000.json").read_text())
    ]
    for path in sorted((data / "self_instruct" / "predictions").glob("*_predictions.jsonl")):
        for line in path.read_text().splitlines():
            r = json.loads(line)
            rows.append(
                {
                    "instruction": render_instruction(r["instruction"], r.get("input") or ""),
                    "response": r["response"],
                }
            )
    return rows


def main() -> None:
    """Build the answers, gate them, print time per answer and shares per rule."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=public_data())
    args = parser.parse_args()
    pool = real_answers(args.data)
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "responses.jsonl"
        rows = []
        for _ in range(args.n):
            row = dict(rng.choice(pool))
            row["finish_reason"] = "length" if rng.random() < 0.05 else "stop"
            rows.append(row)
        write_jsonl_atomic(src, rows)
        started = time.perf_counter()
        write_jsonl_atomic(Path(tmp) / "copy.jsonl", (obj for _, obj in iter_json_objects(src)))
        floor = time.perf_counter() - started
        started = time.perf_counter()
        report = gate(src, Path(tmp) / "kept.jsonl", Path(tmp) / "removed.jsonl", QualitySettings())
        seconds = time.perf_counter() - started
    print(f"answers: {report.answers:,} (drawn from {len(pool):,} real ones)")
    print(f"quality gate: {seconds:.1f} s, {seconds / report.answers * 1e6:.0f} µs per answer")
    print(
        f"baseline (read + write, no rule): {floor:.1f} s; gate / baseline: {seconds / floor:.1f}x"
    )
    print(f"kept: {report.kept:,} ({report.kept / report.answers:.1%})")
    for rule in RULES:
        n = report.removed.get(rule, 0)
        print(f"  {rule:<10} {n:>7,} ({n / report.answers:.2%})")


if __name__ == "__main__":
    main()
