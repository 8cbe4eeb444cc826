"""One report built from what the stages really write: a trained tiny student, its evaluation, the judge.

The other report tests feed hand-written JSON; this one catches a format
drift between train/evaluate/judge and the report as soon as it happens.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from herdsman.config import StudentConfig
from herdsman.evaluate.answer_sheets import Item, item_id, read_answer_sheet
from herdsman.evaluate.evaluator import EvalSettings, Evaluator, held_out_rows
from herdsman.evaluate.judge import grade_answers
from herdsman.evaluate.models import collect_models
from herdsman.report.page import write_report
from herdsman.store.run_store import RunStore
from herdsman.teachers.factory import build_teacher
from herdsman.teachers.registry import teacher_options
from herdsman.testing.stub_server import StubServer
from herdsman.train.student import train_student
from tests.helpers.tiny_models import alpaca_dataset, tiny_causal


def test_report_from_a_real_tiny_run(tmp_path: Path, stub: StubServer) -> None:
    run = tmp_path / "run"
    dataset = alpaca_dataset(run / "dataset", n=32, held_out=0.25)
    base = tiny_causal(tmp_path / "tiny-base", initializer_range=0.2)
    student = StudentConfig(
        name="tiny-lamini", base=str(base), batch_size=8, per_device_batch_size=4,
        max_length=128, max_steps=2,
    )  # fmt: skip
    train_student(student, dataset, run / "students" / "tiny-lamini")
    models = collect_models([run / "students" / "tiny-lamini"])
    evaluator = Evaluator(
        models, run / "eval",
        EvalSettings(tasks=("herdsman_sentiment",), limit=4, batch_size=4,
                     imitation_items=4, max_new_tokens=8),
        log=lambda _: None,
    )  # fmt: skip
    bench = evaluator.benchmarks()
    imitation = evaluator.imitation(dataset)
    evaluator.probes(["Say hello.", "Name a fruit."])
    rows = held_out_rows(dataset, 3)
    items = [Item(item_id(r["instruction"], ""), r["instruction"]) for r in rows]
    sheet_path = evaluator.answer_sheet(
        items, {i.id: r["response"] for i, r in zip(items, rows, strict=True)}
    )
    teacher = build_teacher(teacher_options(backend="openai", model="stub", base_url=stub.url))
    with RunStore(tmp_path / "store.sqlite") as store:
        judged = grade_answers(read_answer_sheet([sheet_path]), teacher, store, retries=0)
    teacher.close()
    pairs = [("tiny-lamini", "tiny-base (base)")]
    (run / "eval" / "judge.json").write_text(json.dumps(judged.as_dict(pairs)))

    data = write_report(run, run / "report.html")
    html = (run / "report.html").read_text()
    # Everything this run produced made it in; only what it did not run is missing.
    assert set(data.missing) == {"analysis", "humans"}, data.missing
    assert {"dataset", "herd", "benchmarks", "imitation", "judge", "probes"} <= set(data.sections)
    for model in bench["models"]:
        assert model["name"] in html
        value = model["scores"]["herdsman_sentiment"]["value"]
        assert f"{value:.3f}" in html
    for score in imitation["scores"]:
        assert f"{score['rouge_l']:.3f}" in html
    assert "Say hello." in html and "Name a fruit." in html
    # Every score with its n and interval; the student against its base, paired, in words.
    [comparison] = imitation["comparisons"]
    assert comparison["student"] == "tiny-lamini" and comparison["rouge_l"]["n"] == 4
    assert ("cannot be told from zero" in html) or ("a difference the data supports" in html)
    assert bench["comparisons"] and all(c["difference"]["n"] == 4 for c in bench["comparisons"])
    assert "(n=4)" in html and 'class="ci"' in html
    judged_dict = json.loads((run / "eval" / "judge.json").read_text())
    assert set(judged_dict["expected"]) >= {"tiny-lamini", "tiny-base (base)"}
    assert judged.as_dict()["bias"]["unparsed"] == 0
    assert not re.search(r"\bnan\b|\bNone\b|Undefined", html)
