"""Every CPU stage at the paper's scale: time and peak memory at 100K, 500K, 1M and 2.58M rows.

The corpus is :mod:`scale_corpus`'s (real texts from the public test data,
with controlled exact and near duplicates, LaMini's source mix); each size is
a prefix of the largest. Each stage runs in its own process, as a user runs
it, and is timed with its peak resident memory (``ru_maxrss`` of that
process tree, from ``wait4``):

- ``dedup``: ``herdsman dedup`` on the instructions (``--method auto``: LSH
  candidates above 50,000 rows);
- ``quality``: ``herdsman quality`` (every rule) on the answered rows;
- ``respond``: the output pass of ``respond`` over finished calls: the run
  store is filled once with an answer for every instruction (not timed in the
  table; its time is printed), then ``respond`` runs with a teacher that
  fails the benchmark if asked anything;
- ``dataset``: decontamination against the built-in evaluation suite, split,
  JSONL, Parquet, the Hugging Face folder and the card;
- ``analyze``: ``herdsman analyze`` on that dataset (statistics over all rows,
  embeddings and t-SNE on its default sample);
- ``select`` (at ``--select-rows``): ``herdsman select`` with the length score
  and no diversity step: what the CPU does at that size (the model scores
  and embeddings are priced per pair in docs/benchmarks.md);
- ``topics`` (once): ``herdsman topics`` on a generated category dump of
  ``--topics-rows`` rows in the real mysqldump format.

Before the table: the LSH dedup's decisions against the exact mode on the
first ``--recall-rows`` rows (recall: the exact mode's near-duplicate drops
that LSH also makes; every LSH drop is a true one by construction), and the
exact mode against the exhaustive rouge-score rule on the first
``--exhaustive-rows``.

Prints a Markdown table (time, peak RSS, growth exponent between sizes) and
the bounds; writes ``results.json`` into ``--dir``.

Usage: python benchmarks/bench_scale.py [--sizes 100000,500000,1000000,2580000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tests.helpers
from tests.helpers.data import public_data

HERDSMAN = [sys.executable, "-m", "herdsman"]
SIZES = (100_000, 500_000, 1_000_000, 2_580_000)
STAGES = ("dedup", "quality", "respond", "dataset", "analyze", "select")
GIB = 1024**3
#: (seconds, bytes) a stage may take at the largest size; None: no bound set.
BOUNDS: dict[str, tuple[float | None, int | None]] = {
    "dedup": (20 * 60, 6 * GIB),
    "dataset": (10 * 60, None),
    "analyze": (15 * 60, None),
}
TEACHER = ("openai", "gpt-3.5-turbo", "https://api.openai.com/v1")


def run_measured(cmd: list[str], log: Path) -> dict[str, Any]:
    """Run ``cmd``; its wall time, peak RSS (bytes) and exit status.

    A child's peak RSS starts from its parent's at fork, so this process keeps
    nothing large: the corpus and the dump are written by children too.
    """
    started = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    return {
        "seconds": round(seconds, 2),
        "rss": usage.ru_maxrss * 1024,
        "rc": code,
        "log": str(log),
    }


def head(src: Path, dst: Path, rows: int) -> Path:
    """The first ``rows`` lines of ``src`` into ``dst`` (kept when already there)."""
    if dst.is_file():
        return dst
    tmp = dst.with_suffix(".tmp")
    with src.open("rb") as inp, tmp.open("wb") as out:
        for n, line in enumerate(inp):
            if n >= rows:
                break
            out.write(line)
    tmp.replace(dst)
    return dst


def instructions_file(rows: Path, dst: Path) -> Path:
    """``respond`` input (herdsman JSONL instructions) from corpus rows."""
    if dst.is_file():
        return dst
    tmp = dst.with_suffix(".tmp")
    with rows.open("rb") as inp, tmp.open("wb") as out:
        for line in inp:
            row = orjson.loads(line)
            record = {k: row[k] for k in ("id", "instruction", "instruction_source")}
            out.write(orjson.dumps(record) + b"\n")
    tmp.replace(dst)
    return dst


# --- child processes (one stage each, so peak memory is the stage's own) ---------------------


def _no_call_teacher() -> Any:
    from herdsman.teachers.base import Teacher

    class NoCallTeacher(Teacher):
        backend, model, endpoint = TEACHER

        def run(self, requests: Iterable[Any], sink: Any) -> None:
            asked = sum(1 for _ in requests)
            if asked:
                raise RuntimeError(f"the run store lacked {asked} answers: the benchmark is broken")

    return NoCallTeacher()


def child_fill(instructions: Path, corpus: Path, store_path: Path) -> None:
    """Put a finished call for every instruction into a run store (the corpus's response)."""
    from herdsman.generation.instructions import read_instructions
    from herdsman.generation.respond import RespondSettings, make_request
    from herdsman.io.jsonl import BadLines
    from herdsman.store.run_store import CallResult, RunStore

    teacher, settings = _no_call_teacher(), RespondSettings()
    sampling = settings.sampling.model_dump()
    batch: list[CallResult] = []
    with RunStore(store_path) as store, corpus.open("rb") as answers:
        for instruction in read_instructions(instructions, "auto", "custom", False, BadLines()):
            row = orjson.loads(next(answers))
            key = make_request(teacher, instruction, settings, sampling).key
            batch.append(
                CallResult(
                    key=key, stage="respond", teacher=TEACHER[0], model=TEACHER[1], status="ok",
                    text=row["response"], finish_reason="stop",
                    prompt_tokens=row["prompt_tokens"], completion_tokens=row["completion_tokens"],
                )
            )  # fmt: skip
            if len(batch) >= 1000:
                store.put_many(batch)
                batch = []
        store.put_many(batch)


def child_respond(instructions: Path, store_path: Path, out: Path) -> None:
    """The output pass of ``respond`` (every answer already in the store)."""
    from herdsman.generation.respond import respond
    from herdsman.store.run_store import RunStore

    with RunStore(store_path) as store:
        report = respond(_no_call_teacher(), store, instructions, out)
    if report.failed or report.calls.ok or report.calls.failed:
        raise SystemExit(f"respond asked the teacher or failed: {report}")
    print(json.dumps({"written": report.written}))


def child_dataset(rows: Path, out: Path) -> None:
    """The dataset stage's work on answered rows: decontaminate, split, export, card."""
    from herdsman.config import DatasetConfig
    from herdsman.dataset.build import build_dataset
    from herdsman.dataset.card import CardInfo, render_card
    from herdsman.io.bundled import bundled_file

    suite = sorted(bundled_file("eval").glob("*.jsonl"))
    info = CardInfo(name="scale-benchmark")
    report = build_dataset(rows, out, DatasetConfig(), suite, card=lambda r: render_card(r, info))
    print(json.dumps({"kept": report.kept, "eval_items": report.eval_items}))


def child_recall(corpus: Path, rows: int, exhaustive_rows: int) -> None:
    """LSH vs exact decisions on the first ``rows``; exact vs exhaustive on the first few."""
    from bench_dedup import exhaustive

    from herdsman.generation.dedup import dedup_texts, rouge_tokens
    from herdsman.generation.dedup_file import exact_key
    from herdsman.generation.dedup_lsh import LshSettings, TokenTable, decide

    with corpus.open("rb") as lines:
        texts = [
            orjson.loads(line)["instruction"] for _, line in zip(range(rows), lines, strict=False)
        ]
    started = time.perf_counter()
    exact, stats = dedup_texts(texts)
    exact_s = time.perf_counter() - started
    started = time.perf_counter()
    table = TokenTable()
    for text in texts:
        table.add(rouge_tokens(text))
    outcome = decide(table, [exact_key(t) for t in texts], 0.7, LshSettings())
    lsh_s = time.perf_counter() - started
    exact_near = {i for i, d in enumerate(exact) if d.reason == "near"}
    lsh_near = {i for i, r in outcome.reasons.items() if r[0] == "near"}
    agree = sum(d.kept == bool(outcome.kept[i]) for i, d in enumerate(exact))
    small = texts[:exhaustive_rows]
    reference = exhaustive(small)
    exact_small, _ = dedup_texts(small)
    result = {
        "rows": len(texts),
        "exact_s": round(exact_s, 2),
        "lsh_s": round(lsh_s, 2),
        "exact_near": len(exact_near),
        "lsh_near": len(lsh_near),
        "recall": round(len(exact_near & lsh_near) / max(1, len(exact_near)), 5),
        "lsh_only_drops": len(lsh_near - exact_near),
        "agreement": round(agree / len(texts), 5),
        "exact_kept": stats.kept,
        "exhaustive_rows": len(small),
        "exact_equals_exhaustive": [d.kept for d in exact_small] == reference,
    }
    print(json.dumps(result))


def _child(argv: list[str]) -> None:
    stage, *args = argv
    paths = [Path(a) for a in args]
    if stage == "fill":
        child_fill(*paths)
    elif stage == "respond":
        child_respond(*paths)
    elif stage == "dataset":
        child_dataset(*paths)
    elif stage == "recall":
        child_recall(paths[0], int(args[1]), int(args[2]))
    elif stage == "corpus":
        from scale_corpus import write_corpus

        write_corpus(paths[0], int(args[1]), paths[2])
    elif stage == "dump":
        from bench_topics import write_dump

        write_dump(paths[0], int(args[1]))
    else:
        raise SystemExit(f"unknown child stage {stage}")


# --- the benchmark ---------------------------------------------------------------------------


def _self(*args: object) -> list[str]:
    return [sys.executable, __file__, "--child", *map(str, args)]


def stage_command(
    stage: str, size: int, work: Path, rows: Path, args: argparse.Namespace
) -> list[str]:
    """The command that runs one stage at one size."""
    out = work / f"{stage}_{size}"
    if stage == "dedup":
        return [*HERDSMAN, "dedup", str(rows), "-o", str(out.with_suffix(".jsonl"))]
    if stage == "quality":
        return [*HERDSMAN, "quality", str(rows), "-o", str(out.with_suffix(".jsonl"))]
    if stage == "respond":
        instructions = instructions_file(rows, work / f"instructions_{size}.jsonl")
        return _self("respond", instructions, work / "store.sqlite", out.with_suffix(".jsonl"))
    if stage == "dataset":
        return _self("dataset", rows, work / f"dataset_{size}")
    if stage == "analyze":
        return [
            *HERDSMAN, "analyze", str(work / f"dataset_{size}"), "-o", str(out),
            "--embed-sample", str(args.embed_sample),
        ]  # fmt: skip
    if stage == "select":
        return [
            *HERDSMAN, "select", str(work / f"dataset_{size}"), "-o", str(out),
            "--fraction", "0.5", "--scores", "length", "--diversity", "none",
            "--store", str(work / f"select_store_{size}.sqlite"),
        ]  # fmt: skip
    raise ValueError(stage)


def growth(points: list[tuple[int, float]]) -> list[float]:
    """Log-log slopes between consecutive (rows, seconds): 1.0 is linear."""
    return [
        round(math.log(t2 / t1) / math.log(n2 / n1), 2)
        for (n1, t1), (n2, t2) in pairwise(points)
        if t1 > 0 and t2 > 0
    ]


def _mb(rss: int) -> str:
    return f"{rss / 1024**2:,.0f}"


def table(results: dict[str, Any]) -> Iterator[str]:
    """The Markdown table of every measured stage and size."""
    yield "| stage | rows | time (s) | peak RSS (MB) | µs per row |"
    yield "|---|---:|---:|---:|---:|"
    for stage, runs in results["stages"].items():
        for size, run in sorted(runs.items(), key=lambda kv: int(kv[0])):
            mark = "" if run["rc"] == 0 else f" (FAILED rc={run['rc']}, see {run['log']})"
            yield (
                f"| {stage} | {int(size):,} | {run['seconds']:,.1f}{mark} | {_mb(run['rss'])} | "
                f"{run['seconds'] / int(size) * 1e6:,.0f} |"
            )
    yield ""
    for stage, runs in results["stages"].items():
        points = sorted((int(s), r["seconds"]) for s, r in runs.items() if r["rc"] == 0)
        slopes = growth(points)
        if slopes:
            yield f"- {stage}: growth exponent between sizes {slopes} (1.0 = linear)"


def verdicts(results: dict[str, Any], largest: int) -> Iterator[str]:
    """Each bound at the largest size: met or not, with the figures."""
    for stage, (seconds, rss) in BOUNDS.items():
        run = results["stages"].get(stage, {}).get(str(largest))
        if run is None:
            continue
        ok = run["rc"] == 0
        parts = [f"{run['seconds']:,.0f} s"]
        if seconds is not None:
            ok = ok and run["seconds"] <= seconds
            parts[0] += f" (bound {seconds:,.0f} s)"
        if rss is not None:
            ok = ok and run["rss"] <= rss
            parts.append(f"{run['rss'] / GIB:.2f} GiB (bound {rss / GIB:.0f} GiB)")
        yield f"- {stage} at {largest:,} rows: {', '.join(parts)}: {'met' if ok else 'NOT MET'}"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--dir", type=Path, default=Path("/tmp/herdsman-scale"))
    parser.add_argument("--data", type=Path, default=public_data())
    parser.add_argument("--select-rows", type=int, default=1_000_000)
    parser.add_argument("--topics-rows", type=int, default=2_200_000)
    parser.add_argument("--recall-rows", type=int, default=50_000)
    parser.add_argument("--exhaustive-rows", type=int, default=1_000)
    parser.add_argument("--embed-sample", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="Keep the stage outputs.")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    stages = [s for s in args.stages.split(",") if s]
    work = args.dir
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"sizes": sizes, "stages": {}, "notes": {}}
    largest = max([*sizes, args.select_rows if "select" in stages else 0])

    started = time.perf_counter()
    corpus = work / f"corpus_{largest}.jsonl"
    if not corpus.is_file():
        made = run_measured(_self("corpus", corpus, largest, args.data), work / "corpus.log")
        if made["rc"]:
            raise SystemExit(f"building the corpus failed: see {made['log']}")
    results["notes"]["corpus_s"] = round(time.perf_counter() - started, 1)
    print(
        f"corpus: {largest:,} rows, {corpus.stat().st_size / 1024**2:,.0f} MB ({results['notes']['corpus_s']} s)"
    )

    if args.recall_rows:
        run = run_measured(
            _self("recall", corpus, args.recall_rows, args.exhaustive_rows), work / "recall.log"
        )
        lines = Path(run["log"]).read_text().strip().splitlines()
        results["recall"] = json.loads(lines[-1]) if run["rc"] == 0 else {"failed": run}
        print(f"dedup decisions on the first rows: {results['recall']}")

    if "respond" in stages:
        instructions = instructions_file(corpus, work / f"instructions_{largest}.jsonl")
        (work / "store.sqlite").unlink(missing_ok=True)
        fill = run_measured(
            _self("fill", instructions, corpus, work / "store.sqlite"), work / "fill.log"
        )
        results["notes"]["store_fill"] = fill
        print(
            f"run store filled with {largest:,} finished calls: {fill['seconds']} s (rc {fill['rc']})"
        )

    for size in sizes:
        rows = corpus if size == largest else head(corpus, work / f"corpus_{size}.jsonl", size)
        for stage in stages:
            if stage == "select":
                continue
            run = run_measured(
                stage_command(stage, size, work, rows, args), work / f"{stage}_{size}.log"
            )
            results["stages"].setdefault(stage, {})[str(size)] = run
            print(
                f"{stage} {size:,}: {run['seconds']} s, {_mb(run['rss'])} MB, rc {run['rc']}",
                flush=True,
            )
        if not args.keep and size != args.select_rows:
            _clean(work, size)
    if "select" in stages:
        size = args.select_rows
        rows = corpus if size == largest else head(corpus, work / f"corpus_{size}.jsonl", size)
        if not (work / f"dataset_{size}").is_dir():
            run_measured(
                stage_command("dataset", size, work, rows, args), work / f"dataset_{size}.log"
            )
        run = run_measured(
            stage_command("select", size, work, rows, args), work / f"select_{size}.log"
        )
        results["stages"]["select"] = {str(size): run}
        print(f"select {size:,}: {run['seconds']} s, {_mb(run['rss'])} MB, rc {run['rc']}")
    if args.topics_rows:
        dump = work / f"category_{args.topics_rows}.sql.gz"
        if not dump.is_file():
            run_measured(_self("dump", dump, args.topics_rows), work / "dump.log")
        run = run_measured(
            [*HERDSMAN, "topics", str(dump), "-o", str(work / "topics.txt")], work / "topics.log"
        )
        run["dump_mb"] = round(dump.stat().st_size / 1024**2, 1)
        results["stages"]["topics"] = {str(args.topics_rows): run}
        print(
            f"topics {args.topics_rows:,} rows ({run['dump_mb']} MB gzip): {run['seconds']} s, {_mb(run['rss'])} MB"
        )

    (work / "results.json").write_text(json.dumps(results, indent=2))
    print()
    for line in table(results):
        print(line)
    print()
    for line in verdicts(results, max(sizes)):
        print(line)
    if not args.keep:
        _clean(work, args.select_rows)


def _clean(work: Path, size: int) -> None:
    """Remove one size's stage outputs (they are large; the logs stay)."""
    for path in work.iterdir():
        stem = path.name.split(".")[0]
        if not stem.endswith(f"_{size}") or path.suffix == ".log" or stem.startswith("corpus_"):
            continue
        shutil.rmtree(path) if path.is_dir() else path.unlink()


if __name__ == "__main__":
    main()
