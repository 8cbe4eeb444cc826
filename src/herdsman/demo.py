"""``herdsman demo``: the pipeline end to end on the embedded defaults.

So far: bundled seed tasks -> normalised seeds -> responses from the embedded
teacher (SmolLM2-135M-Instruct) -> LaMini JSONL. Later stages (generation,
dataset, training, evaluation, report) extend it.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

from rich.table import Table

from herdsman.console import console, progress_bar
from herdsman.errors import HerdsmanError
from herdsman.jsonl import write_jsonl_atomic
from herdsman.records import SamplingParams
from herdsman.respond import RespondSettings, respond
from herdsman.seeds import load_seeds
from herdsman.store import RunStore
from herdsman.teachers.local import LocalTeacher


def bundled_file(name: str) -> Path:
    """Path of a data file shipped in the package."""
    return Path(str(resources.files("herdsman") / "data" / name))


def run_demo(out: Path, quick: bool = False) -> Path:
    """Run the demo into ``out``; return the LaMini JSONL it wrote."""
    out.mkdir(parents=True, exist_ok=True)
    seeds_path = out / "seeds.jsonl"
    seeds = list(load_seeds(bundled_file("demo_seed_tasks.jsonl"), "self-instruct"))
    if quick:
        seeds = seeds[:8]
    write_jsonl_atomic(seeds_path, seeds)
    console.print(f"[1/2] seeds: {len(seeds)} bundled seed tasks -> {seeds_path}")

    teacher = LocalTeacher(None, batch_size=8 if quick else 12)
    settings = RespondSettings(
        sampling=SamplingParams(temperature=0.0, max_tokens=64 if quick else 160)
    )
    lamini = out / "dataset" / "lamini.jsonl"
    started = time.perf_counter()
    with (
        RunStore(out / ".herdsman" / "store.sqlite") as store,
        progress_bar("respond") as (bar, task),
    ):
        report = respond(
            teacher,
            store,
            seeds_path,
            lamini,
            settings,
            on_total=lambda n: bar.update(task, total=n),
            on_progress=lambda: bar.advance(task),
        )
    teacher.close()
    elapsed = time.perf_counter() - started
    console.print(
        f"[2/2] respond: {report.written} LaMini records -> {lamini} in {elapsed:.0f}s "
        f"({report.calls.summary()})"
    )
    if report.failed:
        raise HerdsmanError(f"{report.failed} demo instruction(s) got no answer; re-run to retry")

    table = Table(title="demo: first answers from the embedded teacher", show_lines=True)
    table.add_column("instruction", max_width=50)
    table.add_column("response", max_width=70)
    import json

    with lamini.open(encoding="utf-8") as handle:
        for line, _ in zip(handle, range(3), strict=False):
            rec = json.loads(line)
            table.add_row(rec["instruction"], rec["response"])
    console.print(table)
    return lamini
