"""Judging by constrained choice vs free text, with the same local teacher on the same answers.

The embedded SmolLM2-135M-Instruct grades 100 real answers (the first
instructions of Self-Instruct's user-oriented set, answered by the three
Self-Instruct models) with the A-D rubric twice: reading the probability of
each grade letter as the first token (one forward pass per answer), and
generating a free-text reply that is parsed strictly, with one reminder. Each
run has its own fresh run store, so nothing is cached between them.

Usage: python benchmarks/bench_judge.py [--answers 100] [--data DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tests.helpers
from herdsman.evaluate.answer_sheets import AnswerSheet, read_answer_sheet
from herdsman.evaluate.judge import grade_answers
from herdsman.store.run_store import RunStore
from herdsman.teachers.local import LocalTeacher
from tests.helpers.data import public_data


def main() -> None:
    """Grade the same answers both ways and print time per answer and share graded."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=100)
    parser.add_argument("--data", type=Path, default=public_data())
    args = parser.parse_args()
    files = sorted((args.data / "self_instruct" / "predictions").glob("*_predictions.jsonl"))
    full = read_answer_sheet(files)
    items = full.items[: -(-args.answers // len(full.models))]
    sheet = AnswerSheet(items, {i.id: full.answers[i.id] for i in items}, full.models)
    n = sum(len(sheet.answers[i.id]) for i in items)
    teacher = LocalTeacher(batch_size=16)
    teacher.load()  # loading is not part of either measurement
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, constrained in (("free text", False), ("constrained choice", True)):
            with RunStore(Path(tmp) / f"{name}.sqlite") as store:
                started = time.perf_counter()
                report = grade_answers(sheet, teacher, store, retries=1, constrained=constrained)
                seconds = time.perf_counter() - started
            graded = sum(j.status == "graded" for j in report.judgements)
            rows[name] = (seconds, graded)
            print(f"{name:>18}: {seconds / n * 1000:.0f} ms per answer, graded {graded}/{n} "
                  f"({graded / n:.0%})")  # fmt: skip
    free, chosen = rows["free text"], rows["constrained choice"]
    print(f"constrained choice: {free[0] / chosen[0]:.1f}x faster per answer; "
          f"graded {chosen[1]} vs {free[1]} of {n}")  # fmt: skip


if __name__ == "__main__":
    main()
