"""The embedded judge's controls, rubric alone vs reference-guided, on the same real items.

The embedded SmolLM2-135M-Instruct grades, by constrained choice, the control
answers of N real instructions (Self-Instruct's user-oriented tasks, with the
text-davinci-003 answer as the reference: a good answer to each): the
reference, an answer to another instruction, the reference cut to a third,
its words shuffled, and a loop of its first words. Once with the rubric
alone, once with the reference shown (MT-Bench's reference-guided grading).
Each mode has its own fresh run store. Prints, per mode, the paired
reference-minus-control difference of expected grade points per control kind
(95% intervals), the AUC of good vs degraded answers with its interval, and
the verdict: the mode that separates them better is the judge's default.

Usage: python benchmarks/bench_judge_controls.py [--items 30] [--data DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tests.helpers
from herdsman.evaluate.answer_sheets import read_answer_sheet
from herdsman.evaluate.judge import grade_answers
from herdsman.evaluate.judge_controls import DEGRADED, control_sheet, evaluate_controls
from herdsman.store.run_store import RunStore
from herdsman.teachers.local import LocalTeacher
from tests.helpers.data import public_data


def main() -> None:
    """Run the controls in both modes and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--data", type=Path, default=public_data())
    args = parser.parse_args()
    answers = args.data / "self_instruct" / "predictions" / "text-davinci-003_predictions.jsonl"
    sheet = read_answer_sheet([answers])
    model = sheet.models[0]
    references = {i.id: sheet.answers[i.id][model] for i in sheet.items}
    controls = control_sheet(sheet.items, references, args.items, seed=0)
    teacher = LocalTeacher(batch_size=16)
    print(f"{len(controls.items)} items x 5 control answers, judge: embedded SmolLM2-135M-Instruct")
    for mode, guided in (("rubric", None), ("reference-guided", references)):
        with tempfile.TemporaryDirectory() as tmp, RunStore(Path(tmp) / "s.sqlite") as store:
            start = time.perf_counter()
            report = grade_answers(controls, teacher, store, 0, references=guided)
            seconds = time.perf_counter() - start
        result = evaluate_controls(report.judgements, mode)
        print(f"\n{mode}: {seconds:.0f} s for {len(report.judgements)} grades")
        for kind in DEGRADED:
            d = result.differences.get(kind)
            if d:
                print(
                    f"  reference - {kind:10s} {d['mean']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}], n={d['n']}"
                )
        if result.auc:
            a = result.auc
            print(
                f"  AUC good vs degraded {a['auc']:.3f} [{a['low']:.3f}, {a['high']:.3f}], n={a['n']}"
            )
        print(f"  verdict: {result.verdict}")
    teacher.close()


if __name__ == "__main__":
    main()
