"""Ray on 2 local CPU workers vs one process, `local` backend, the same 64 instructions.

Both runs answer the first 64 of Self-Instruct's user-oriented instructions with
the embedded SmolLM2-135M-Instruct, greedy, through :func:`herdsman.generation.respond.respond`
and a fresh run store each. The Ray run includes starting the local cluster
and loading the model in each worker (the overhead a user pays). Prints both
times, the ratio, and whether the two outputs are identical.

Usage: python benchmarks/bench_ray.py [--n 64] [--max-tokens 48] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tests.helpers
from herdsman.generation.respond import RespondSettings, respond
from herdsman.records import SamplingParams
from herdsman.store.run_store import RunStore
from herdsman.teachers.factory import build_teacher
from herdsman.teachers.registry import teacher_options
from tests.helpers.data import public_data

DATA = public_data() / "self_instruct"


def answers(path: Path) -> list[tuple[str, str]]:
    """(instruction, response) per output row."""
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    return [(r["instruction"], r["response"]) for r in rows]


def timed(options: Any, src: Path, out: Path, settings: RespondSettings) -> float:
    """Seconds for one full respond run (teacher construction and cluster start included)."""
    start = time.perf_counter()
    teacher = build_teacher(options)
    with RunStore(out.with_suffix(".sqlite")) as store:
        report = respond(teacher, store, src, out, settings)
    teacher.close()
    assert report.failed == 0
    return time.perf_counter() - start


def main() -> None:
    """Run both and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    settings = RespondSettings(sampling=SamplingParams(temperature=0.0, max_tokens=args.max_tokens))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.jsonl"
        rows = (DATA / "user_oriented_instructions.jsonl").read_text().splitlines()[: args.n]
        src.write_text(
            "".join(json.dumps({"instruction": json.loads(r)["instruction"]}) + "\n" for r in rows)
        )
        one = timed(
            teacher_options(batch_size=args.batch_size), src, Path(tmp) / "one.jsonl", settings
        )
        ray_options = teacher_options(
            batch_size=args.batch_size, ray_address="local", ray_workers=2
        )
        on_ray = timed(ray_options, src, Path(tmp) / "ray.jsonl", settings)
        same = answers(Path(tmp) / "one.jsonl") == answers(Path(tmp) / "ray.jsonl")
    print(f"one process:      {one:.1f}s for {args.n} instructions")
    print(f"Ray, 2 workers:   {on_ray:.1f}s (cluster start and model loads included)")
    print(f"ratio one process / Ray: {one / on_ray:.2f}x")
    print(f"identical outputs: {same}")


if __name__ == "__main__":
    main()
