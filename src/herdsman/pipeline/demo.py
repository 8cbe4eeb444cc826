"""``herdsman demo``: ``herdsman run`` on the bundled demo config, with tables of what happened.

Stages: bundled seed tasks -> topics from the bundled category dump ->
example- and topic-guided generation with the embedded teacher
(SmolLM2-135M-Instruct), filtered and deduplicated -> responses -> dataset
(JSONL, Parquet, HF folder, card; the teacher's top-20 token
log-probabilities beside it) -> analysis (figures) -> selection of the
training pairs (judge grade, IFD, diversity) -> the herd (SmolLM2 cut to 20
of its 30 layers and trained on the teacher's token probabilities; SmolLM2
with LoRA; ``--quick``: the same, on fewer and shorter answers) ->
evaluation (offline benchmarks, imitation score, probes, degenerate answers)
-> the ablation (the pruned student trained with sft instead of kd; not with
``--quick``) -> the A-D judge and its controls -> ``report.html``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.table import Table

from herdsman.config import load_config
from herdsman.console import console
from herdsman.embedded import EMBEDDED_MODELS
from herdsman.evaluate.tables import benchmark_table, grades_table, imitation_table
from herdsman.generation.filters import FILTER_NAMES
from herdsman.io.bundled import bundled_file
from herdsman.io.jsonl import iter_json_objects
from herdsman.pipeline.runner import PipelineResult, run_pipeline

#: ``--quick``: fewer seeds, fewer and shorter calls.
QUICK = {
    "seeds": [{"path": "bundled:demo_seed_tasks.jsonl", "format": "self-instruct", "limit": 44}],
    "generate": {
        "strategies": {"example": 2, "topic": 2},
        "max_calls": 2,
        "sampling": {
            "temperature": 0.7,
            "top_p": 0.95,
            "max_tokens": 64,
            "seed": 7,
            "repetition_penalty": 1.2,
        },
    },
    "respond": {"sampling": {"temperature": 0.0, "max_tokens": 64, "repetition_penalty": 1.2}},
    # Short answers are often cut by max_tokens; the full demo drops those (the
    # default), the quick one keeps them so that it still has 30 held-out items.
    "quality": {"disable": ["truncated"]},
    "dataset": {"held_out": 0.7},
    # Selection as in the full demo, without the ablation's second training run.
    "select": {"fraction": 0.8},
    "ablation": {"enabled": False},
    # A short evaluation: 4 items per offline task and short answers; the same 30
    # held-out instructions for imitation and the judge.
    "evaluation": {
        "limit": 4,
        "max_new_tokens": 16,
        "imitation_items": 30,
        "judge": {"max_items": 30, "controls": 12},
    },
    # The same two students, trained for less.
    "students": [
        {
            "name": "smollm2-pruned-kd",
            "base": "smollm2-135m-instruct",
            "init": "prune",
            "keep_layers": 20,
            "objective": "kd",
            "learning_rate": 3.0e-4,
            "epochs": 3,
            "batch_size": 4,
            "per_device_batch_size": 4,
            "max_length": 192,
        },
        {
            "name": "smollm2-135m-lora",
            "base": "smollm2-135m-instruct",
            "method": "lora",
            "learning_rate": 2.0e-4,
            "epochs": 1,
            "batch_size": 8,
            "per_device_batch_size": 4,
            "max_length": 192,
        },
    ],
}


def generation_tables(summary: dict[str, Any]) -> list[Table]:
    """What generation made of the teacher's replies, and what each filter removed."""
    flow = Table(title="demo: generation")
    filters = Table(title="demo: removed by each quality filter")
    flow.add_column("step")
    filters.add_column("filter")
    for strategy in summary:
        flow.add_column(strategy, justify="right")
        filters.add_column(strategy, justify="right")
    steps = {
        "calls": "calls",
        "nothing parseable": "calls_empty",
        "instructions parsed": "parsed",
        "exact duplicates": "exact_duplicates",
        "near duplicates": "near_duplicates",
        "kept": "kept",
    }
    for label, key in steps.items():
        flow.add_row(label, *(str(r.get(key, 0)) for r in summary.values()))
    flow.add_row(
        "removed by filters", *(str(sum(r["filtered"].values())) for r in summary.values())
    )
    for name in FILTER_NAMES:
        filters.add_row(name, *(str(r["filtered"].get(name, 0)) for r in summary.values()))
    return [flow, filters]


def answers_table(train: Path) -> Table:
    """One answer per instruction_source."""
    table = Table(title="demo: answers from the embedded teacher", show_lines=True)
    table.add_column("source")
    table.add_column("instruction", max_width=45)
    table.add_column("response", max_width=60)
    shown: dict[str, dict[str, Any]] = {}
    for _, rec in iter_json_objects(train):
        shown.setdefault(rec["instruction_source"], rec)
    for rec in shown.values():
        table.add_row(rec["instruction_source"], rec["instruction"], rec["response"][:300])
    return table


#: The embedded teacher's alias, the base name of a student distilled from the teacher itself.
DEFAULT_TEACHER = next(iter(EMBEDDED_MODELS))


def run_demo(out: Path, quick: bool = False) -> PipelineResult:
    """Run the demo config into ``out`` and print what each stage produced."""
    overrides: dict[str, Any] = {"run_dir": str(out.resolve())}
    if quick:
        overrides |= QUICK
    loaded = load_config(bundled_file("demo.yaml"), overrides)
    result = run_pipeline(loaded)
    generated = result.outcome("generate")
    if generated and generated.summary:
        for table in generation_tables(generated.summary):
            console.print(table)
    dataset = out / "dataset"
    console.print(answers_table(dataset / "train.jsonl"))
    console.print(
        f"dataset: {dataset} (JSONL, Parquet, hf/ for datasets.load_from_disk, README.md)"
    )
    console.print(f"analysis: {out / 'analysis'}")
    selection = out / "selected" / "selection.json"
    if selection.is_file():
        found = json.loads(selection.read_text())
        dropped = ", ".join(f"{r}: {n}" for r, n in found["dropped"].items()) or "none"
        console.print(
            f"selection: kept {found['kept']} of {found['candidates']} training pairs "
            f"(dropped: {dropped}); card: {selection.parent / 'README.md'}"
        )
    if (out / "students").is_dir():
        console.print(f"students: {out / 'students'} (Hugging Face folders with model cards)")
    benchmarks = out / "eval" / "benchmarks.json"
    if benchmarks.is_file():
        console.print(benchmark_table(json.loads(benchmarks.read_text())))
    judge = out / "eval" / "judge.json"
    if judge.is_file():
        judged = json.loads(judge.read_text())
        console.print(grades_table(judged))
        controls = judged.get("controls") or {}
        if controls:
            console.print(f"judge: {controls['verdict']}")
    imitation = out / "eval" / "imitation.json"
    if imitation.is_file():
        found = json.loads(imitation.read_text())
        console.print(imitation_table(found))
        for line in imitation_gains(found, loaded.config.teacher.model or DEFAULT_TEACHER):
            console.print(line)
    ablation = out / "ablation" / "ablation.json"
    if ablation.is_file():
        found = json.loads(ablation.read_text())
        first, second = found.get("labels") or ("selected", "random")
        for row in found["comparisons"]:
            console.print(
                f"{first} minus {second} ({found['student']}), {row['measure']}: {row['verdict']}"
            )
    report = out / "report.html"
    if report.is_file():
        console.print(f"report: {report.resolve()}")
    return result


def imitation_gains(imitation: dict[str, Any], teacher: str) -> list[str]:
    """What distillation bought: each student's imitation gain over its own base, paired.

    Students trained from the teacher itself are left out: imitating oneself
    is not what the demo sets out to show.
    """
    lines = []
    for c in imitation.get("comparisons", []):
        if c["base"].removesuffix(" (base)") == teacher:
            continue
        lines.append(f"imitation gain of {c['student']} over {c['base']}: {c['verdict']}")
    return lines
