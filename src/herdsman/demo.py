"""``herdsman demo``: the pipeline end to end on the embedded defaults.

So far: bundled seed tasks -> topics from the bundled category dump ->
example-guided and topic-guided generation with the embedded teacher
(SmolLM2-135M-Instruct), filtered and deduplicated -> responses to originals
and generated instructions -> LaMini JSONL. Later stages (dataset, training,
evaluation, report) extend it.
"""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path
from typing import Any

from rich.table import Table

from herdsman.console import console, progress_bar
from herdsman.errors import HerdsmanError
from herdsman.filters import FILTER_NAMES
from herdsman.generate import GenerateReport, GenerateSettings, generate
from herdsman.jsonl import iter_json_objects, write_jsonl_atomic
from herdsman.prompts import Planner
from herdsman.records import SamplingParams
from herdsman.respond import RespondSettings, respond
from herdsman.seeds import load_seeds
from herdsman.store import RunStore
from herdsman.teachers.local import LocalTeacher
from herdsman.topics import read_topics, write_topics


def bundled_file(name: str) -> Path:
    """Path of a data file shipped in the package."""
    return Path(str(resources.files("herdsman") / "data" / name))


def _generation_tables(reports: dict[str, GenerateReport]) -> list[Table]:
    """What generation made of the teacher's replies, and what each filter removed."""
    flow = Table(title="demo: generation")
    filters = Table(title="demo: removed by each quality filter")
    flow.add_column("step")
    filters.add_column("filter")
    for strategy in reports:
        flow.add_column(strategy, justify="right")
        filters.add_column(strategy, justify="right")
    steps = {
        "calls": lambda r: r.calls,
        "nothing parseable": lambda r: r.calls_empty,
        "instructions parsed": lambda r: r.parsed,
        "removed by filters": lambda r: sum(r.filtered.values()),
        "exact duplicates": lambda r: r.exact_duplicates,
        "near duplicates": lambda r: r.near_duplicates,
        "kept": lambda r: r.kept,
    }
    for label, get in steps.items():
        flow.add_row(label, *(str(get(r)) for r in reports.values()))
    for name in FILTER_NAMES:
        filters.add_row(name, *(str(r.filtered.get(name, 0)) for r in reports.values()))
    return [flow, filters]


def run_demo(out: Path, quick: bool = False) -> Path:
    """Run the demo into ``out``; return the LaMini JSONL it wrote."""
    out.mkdir(parents=True, exist_ok=True)
    seeds_path = out / "seeds.jsonl"
    seeds = list(load_seeds(bundled_file("demo_seed_tasks.jsonl"), "self-instruct"))
    if quick:
        seeds = seeds[:8]
    write_jsonl_atomic(seeds_path, seeds)
    console.print(f"[1/4] seeds: {len(seeds)} bundled seed tasks -> {seeds_path}")

    topics, stats = read_topics(bundled_file("demo_category.sql"))
    topics_path = out / "topics.txt"
    write_topics(topics_path, topics)
    console.print(
        f"[2/4] topics: {stats.kept} of {stats.rows} categories pass the paper's filter -> {topics_path}"
    )

    teacher = LocalTeacher(None, batch_size=8)
    store = RunStore(out / ".herdsman" / "store.sqlite")
    started = time.perf_counter()
    n = 4 if quick else 8
    sampling = SamplingParams(temperature=0.7, top_p=0.95, max_tokens=160 if quick else 256, seed=7)
    settings = GenerateSettings(n=n, sampling=sampling, wave=4, max_calls=8 if quick else 16)
    reports: dict[str, GenerateReport] = {}
    generated: list[Path] = []
    for strategy in ("example", "topic"):
        planner = Planner(strategy, seeds, topics=[t.title for t in topics], seed=42)
        path = out / f"generated_{strategy}.jsonl"
        with progress_bar(f"generate ({strategy})") as (bar, task):
            bar.update(task, total=n)
            reports[strategy] = generate(
                teacher,
                store,
                planner,
                settings,
                path,
                on_progress=lambda k: bar.update(task, completed=k),
            )
        generated.append(path)
    console.print(
        f"[3/4] generate: {sum(r.kept for r in reports.values())} new instructions "
        f"in {time.perf_counter() - started:.0f}s"
    )
    for table in _generation_tables(reports):
        console.print(table)

    instructions = out / "instructions.jsonl"
    rows = [obj for path in (seeds_path, *generated) for _, obj in iter_json_objects(path)]
    write_jsonl_atomic(instructions, rows)
    lamini = out / "dataset" / "lamini.jsonl"
    settings_r = RespondSettings(
        sampling=SamplingParams(temperature=0.0, max_tokens=64 if quick else 160)
    )
    started = time.perf_counter()
    with progress_bar("respond") as (bar, task):
        report = respond(
            teacher,
            store,
            instructions,
            lamini,
            settings_r,
            on_total=lambda total: bar.update(task, total=total),
            on_progress=lambda: bar.advance(task),
        )
    store.close()
    teacher.close()
    console.print(
        f"[4/4] respond: {report.written} LaMini records -> {lamini} in "
        f"{time.perf_counter() - started:.0f}s ({report.calls.summary()})"
    )
    if report.failed:
        raise HerdsmanError(f"{report.failed} demo instruction(s) got no answer; re-run to retry")

    table = Table(title="demo: answers from the embedded teacher", show_lines=True)
    table.add_column("source")
    table.add_column("instruction", max_width=45)
    table.add_column("response", max_width=60)
    with lamini.open(encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    shown: dict[str, dict[str, Any]] = {}
    for rec in records:
        shown.setdefault(rec["instruction_source"], rec)
    for rec in shown.values():
        table.add_row(rec["instruction_source"], rec["instruction"], rec["response"][:300])
    console.print(table)
    return lamini
