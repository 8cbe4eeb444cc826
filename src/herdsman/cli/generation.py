"""Commands of the data-generation stages: ``seeds``, ``topics``, ``generate``, ``dedup``, ``respond``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from herdsman.cli.app import (
    EXIT_INCOMPLETE,
    SEED_FORMATS,
    DurabilityOpt,
    SkipBadOpt,
    StoreOpt,
    app,
    default_store,
    store_for,
    user_errors,
)
from herdsman.cli.teacher_options import SamplingDefaults, teacher_command
from herdsman.console import console, error_line, phase_progress, progress_bar
from herdsman.errors import HerdsmanError

if TYPE_CHECKING:
    from herdsman.records import SamplingParams
    from herdsman.teachers.options import TeacherOptions

RayOpt = Annotated[
    str | None,
    typer.Option(
        "--ray",
        metavar="ADDRESS",
        help="Spread calls over Ray workers (herdsman[ray]): local (start a cluster on this "
        "machine), auto (the running cluster) or ray://HOST:PORT.",
    ),
]
RayWorkersOpt = Annotated[int, typer.Option("--ray-workers", min=1, help="Ray worker actors.")]


@app.command()
def seeds(
    inputs: Annotated[list[Path], typer.Argument(help="Seed files or folders.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output JSONL.")],
    fmt: Annotated[str, typer.Option("--format", help=f"One of: {SEED_FORMATS}.")] = "auto",
    skip_bad: SkipBadOpt = False,
) -> None:
    """Normalise seed tasks to JSONL records {id, instruction, input, output, source, subset}.

    Examples:

      herdsman seeds self-instruct/seed_tasks.jsonl -o seeds.jsonl

      herdsman seeds p3_templates/ alpaca_data.json --format auto -o seeds.jsonl
    """
    from herdsman.generation.seeds import load_seeds
    from herdsman.io.jsonl import BadLines, write_jsonl_atomic

    with user_errors():
        bad = BadLines()
        counts: dict[str, int] = {}

        def rows() -> Iterator[dict[str, str]]:
            for path in inputs:
                for seed in load_seeds(path, fmt, skip_bad=skip_bad, bad=bad):
                    counts[seed.source] = counts.get(seed.source, 0) + 1
                    yield seed.model_dump(exclude={"origin"})

        n = write_jsonl_atomic(out, rows())
        per = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        console.print(f"wrote {n} seeds to {out} ({per or 'none'})")
        if bad.count:
            console.print(f"skipped {bad.count} malformed record(s), first: {bad.examples[0]}")


@app.command()
def topics(
    dump: Annotated[
        Path,
        typer.Argument(
            metavar="DUMP", help="MediaWiki category table dump (.sql, .sql.gz, .sql.bz2)."
        ),
    ],
    out: Annotated[
        Path, typer.Option("-o", "--out", help="Output: one topic per line, most pages first.")
    ],
    max_words: Annotated[
        int, typer.Option("--max-words", min=1, help="Keep titles of at most this many words.")
    ] = 2,
    min_subcats: Annotated[
        int,
        typer.Option(
            "--min-subcats", min=0, help="Keep categories with at least this many subcategories."
        ),
    ] = 11,
    min_pages: Annotated[
        int,
        typer.Option("--min-pages", min=0, help="Keep categories with at least this many pages."),
    ] = 51,
    skip_bad: Annotated[
        bool,
        typer.Option("--skip-bad", help="Skip malformed tuples (counted) instead of stopping."),
    ] = False,
) -> None:
    """Filter Wikipedia's category list to common topics (the paper's topic-guided generation).

    Defaults are the paper's: fewer than 3 words, more than 10 subcategories,
    more than 50 pages (bounds are inclusive, on the raw cat_subcats / cat_pages).

    Example:

      herdsman topics enwiki-latest-category.sql.gz -o topics.txt
    """
    from herdsman.generation.topics import TopicFilter, read_topics, write_topics

    with user_errors():
        found, stats = read_topics(
            dump, TopicFilter(max_words, min_subcats, min_pages), skip_bad=skip_bad
        )
        write_topics(out, found)
        console.print(
            f"wrote {stats.kept} topics to {out} from {stats.rows:,} categories in {stats.statements} INSERT statements"
        )
        if stats.malformed:
            console.print(
                f"skipped {stats.malformed} malformed tuple(s), first at {stats.malformed_examples[0]}"
            )


@app.command()
@teacher_command(SamplingDefaults(temperature=0.7, top_p=0.95, max_tokens=1024))
def generate(
    strategy: Annotated[
        str, typer.Option("--strategy", help="example (seed-guided) or topic (topic-guided).")
    ],
    seeds_path: Annotated[
        Path, typer.Option("--seeds", help="Seeds JSONL (output of herdsman seeds).")
    ],
    n: Annotated[int, typer.Option("-n", min=1, help="New instructions to keep.")],
    out: Annotated[
        Path, typer.Option("-o", "--out", help="Output JSONL of generated instructions.")
    ],
    topics_path: Annotated[
        Path | None, typer.Option("--topics", help="Topics file, one per line (topic strategy).")
    ] = None,
    examples: Annotated[
        int, typer.Option("--examples", min=1, help="Seed examples per prompt.")
    ] = 3,
    per_call: Annotated[
        int | None,
        typer.Option(
            "--per-call",
            min=1,
            help="Instructions asked per call (default 20; 10 for P3/FLAN seeds).",
        ),
    ] = None,
    topics_per_prompt: Annotated[int, typer.Option("--topics-per-prompt", min=1)] = 3,
    template: Annotated[
        Path | None, typer.Option("--template", help="YAML/JSON overriding the prompt templates.")
    ] = None,
    random_seed: Annotated[
        int, typer.Option("--random-seed", help="Seed for sampling examples and topics.")
    ] = 42,
    max_calls: Annotated[
        int | None, typer.Option("--max-calls", min=1, help="Give up after this many calls.")
    ] = None,
    threshold: Annotated[
        float,
        typer.Option("--threshold", min=0.01, max=0.99, help="Near-duplicate ROUGE-L threshold."),
    ] = 0.7,
    no_filter: Annotated[
        list[str] | None,
        typer.Option(
            "--no-filter",
            help="Switch a filter off: too_short, too_long, unsuitable, program, punctuation, non_english.",
        ),
    ] = None,
    store: StoreOpt = None,
    durability: DurabilityOpt = "normal",
    ray: RayOpt = None,
    ray_workers: RayWorkersOpt = 2,
    *,
    teacher_options: TeacherOptions,
    sampling: SamplingParams,
) -> None:
    """Generate new instructions with the teacher until N are kept after filtering and dedup.

    Resumable: the same command after a crash replays finished calls from the run store.

    Examples:

      herdsman generate --strategy example --seeds seeds.jsonl -n 1000 -o gen.jsonl --teacher openai --model gpt-4o-mini

      herdsman generate --strategy topic --seeds seeds.jsonl --topics topics.txt -n 1000 -o topic.jsonl
    """
    from herdsman.generation.filters import FilterConfig
    from herdsman.generation.generate import GenerateSettings
    from herdsman.generation.generate import generate as run_generate
    from herdsman.generation.prompts import Planner, PromptTemplate
    from herdsman.generation.seeds import load_seeds
    from herdsman.generation.topics import load_topic_list
    from herdsman.teachers.factory import build_teacher

    with user_errors():
        options = teacher_options
        try:
            filters = FilterConfig().without(no_filter or [])
        except ValueError as exc:
            raise HerdsmanError(f"--no-filter: {exc}") from None
        seed_list = list(load_seeds(seeds_path, "auto"))
        topic_list = load_topic_list(topics_path) if topics_path else None
        planner = Planner(
            strategy,
            seed_list,
            PromptTemplate.from_file(template) if template else None,
            topic_list,
            n_examples=examples,
            per_call=per_call,
            topics_per_prompt=topics_per_prompt,
            seed=random_seed,
        )
        if planner.skipped_subsets:
            console.print(
                f"note: {len(planner.skipped_subsets)} subset(s) have fewer than {examples} seeds and are not used"
            )
        wave = options.concurrency if options.backend == "openai" else options.batch_size
        settings = GenerateSettings(
            n=n,
            sampling=sampling,
            wave=wave,
            max_calls=max_calls,
            threshold=threshold,
            filters=filters,
        )
        if ray:
            options = options.model_copy(update={"ray_address": ray, "ray_workers": ray_workers})
            wave = max(wave, ray_workers * options.batch_size)  # keep every worker busy
            settings = replace(settings, wave=wave)
        built = build_teacher(options)
        with (
            store_for(store, out, durability) as run_store,
            progress_bar(f"generate ({strategy})") as (bar, task),
        ):
            bar.update(task, total=n)
            report = run_generate(
                built,
                run_store,
                planner,
                settings,
                out,
                on_progress=lambda k: bar.update(task, completed=k),
            )
        for line in report.lines():
            console.print(line)
        console.print(f"wrote {report.kept} instructions to {out}")
        if not report.reached:
            error_line(
                f"kept {report.kept} of {n} after {report.calls} calls (budget {settings.call_budget()}); "
                "raise --max-calls, or use a stronger teacher"
            )
            raise typer.Exit(EXIT_INCOMPLETE)


@app.command()
def dedup(
    in_path: Annotated[
        Path, typer.Argument(metavar="IN.jsonl", help="Records with an instruction field.")
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="Kept records, in input order.")],
    threshold: Annotated[
        float,
        typer.Option("--threshold", min=0.01, max=0.99, help="Drop when ROUGE-L F is above this."),
    ] = 0.7,
    field_name: Annotated[
        str | None,
        typer.Option(
            "--field",
            help="Field holding the text to compare (default: the format's instruction field).",
        ),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help=f"Input format, one of: {SEED_FORMATS}.")
    ] = "auto",
    dropped: Annotated[
        Path | None,
        typer.Option("--dropped", help="Also write dropped records with reason and match."),
    ] = None,
    skip_bad: SkipBadOpt = False,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="exact (the pairwise rule's decisions), lsh (MinHash candidates, exact check: "
            "for millions of records) or auto (exact up to 50,000 records).",
        ),
    ] = "auto",
) -> None:
    """Drop exact, then near duplicates (Self-Instruct's ROUGE-L rule), keeping input order.

    `exact` gives the decisions of comparing every pair; `lsh` checks only
    the pairs MinHash signatures bring together (every drop is a true near
    duplicate; a rare true pair is missed) and stays near-linear at millions
    of records. Reads one file in any format `herdsman seeds` reads; records
    pass through unchanged (an Alpaca JSON array stays an array).

    Example:

      herdsman dedup generated.jsonl -o unique.jsonl --threshold 0.7 --dropped dropped.jsonl
    """
    from herdsman.generation.dedup_file import dedup_file

    with user_errors(), phase_progress("dedup") as progress:
        stats = dedup_file(
            in_path,
            out,
            threshold,
            field_name,
            dropped,
            skip_bad=skip_bad,
            fmt=fmt,
            method=method,
            progress=progress,
        )
        capped = (
            f"; {stats.over_budget} records met the cap on checks, so a duplicate of theirs "
            "may be missed"
            if stats.over_budget
            else ""
        )
        console.print(
            f"kept {stats.kept} of {stats.total} records -> {out} "
            f"({stats.exact} exact and {stats.near} near duplicates dropped; "
            f"{stats.method} method{capped})"
        )


@app.command()
@teacher_command(SamplingDefaults(temperature=0.0, top_p=1.0, max_tokens=512))
def respond(
    in_path: Annotated[Path, typer.Argument(metavar="IN.jsonl", help="Instructions to answer.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output LaMini JSONL.")],
    system_prompt: Annotated[
        str | None,
        typer.Option(
            "--system-prompt",
            help="System message (default asks for concise answers; '' for none).",
        ),
    ] = None,
    source: Annotated[
        str, typer.Option("--source", help="instruction_source for records that carry none.")
    ] = "custom",
    fmt: Annotated[
        str, typer.Option("--format", help=f"Input format, one of: {SEED_FORMATS}.")
    ] = "auto",
    drop_truncated: Annotated[
        bool, typer.Option("--drop-truncated", help="Leave out answers cut by --max-tokens.")
    ] = False,
    store: StoreOpt = None,
    durability: DurabilityOpt = "normal",
    skip_bad: SkipBadOpt = False,
    batch_api: Annotated[
        bool,
        typer.Option(
            "--batch-api",
            help="openai: submit through the Batch API (half price, answers within 24 h; "
            "re-run the same command to resume polling).",
        ),
    ] = False,
    poll: Annotated[
        float, typer.Option("--poll", min=0.01, help="Seconds between Batch API polls.")
    ] = 30.0,
    ray: RayOpt = None,
    ray_workers: RayWorkersOpt = 2,
    *,
    teacher_options: TeacherOptions,
    sampling: SamplingParams,
) -> None:
    """Have the teacher answer every instruction once; write LaMini records in input order.

    Reads every format `herdsman seeds` reads (Self-Instruct with instances,
    Alpaca, P3, FLAN, JSONL); an instruction's input is always kept.

    Re-running the same command after a crash or Ctrl-C finishes the job: finished
    calls are kept in the run store and never made twice.

    Examples:

      herdsman respond seeds.jsonl -o lamini.jsonl

      OPENAI_API_KEY=... herdsman respond seeds.jsonl -o lamini.jsonl --teacher openai --model gpt-4o-mini --concurrency 64

      herdsman respond seeds.jsonl -o out.jsonl --teacher openai --base-url http://localhost:8000/v1 --model Qwen/Qwen2.5-7B-Instruct

      herdsman respond all.jsonl -o lamini.jsonl --teacher openai --model gpt-4o-mini --batch-api

      herdsman respond all.jsonl -o lamini.jsonl --ray auto --ray-workers 8 --teacher vllm --model /models/Llama-3-70B
    """
    from herdsman.generation.respond import DEFAULT_SYSTEM_PROMPT, RespondSettings
    from herdsman.generation.respond import respond as run_respond
    from herdsman.teachers.factory import build_teacher

    with user_errors():
        options = teacher_options
        settings = RespondSettings(
            system_prompt=DEFAULT_SYSTEM_PROMPT if system_prompt is None else system_prompt,
            sampling=sampling,
            default_source=source,
            drop_truncated=drop_truncated,
            fmt=fmt,
        )
        if not in_path.exists():
            raise HerdsmanError(f"{in_path}: no such file")
        if batch_api:
            if options.backend != "openai":
                raise HerdsmanError("--batch-api needs --teacher openai")
            journal = (store or default_store(out)).parent / "batches.jsonl"
            options = options.model_copy(
                update={"batch_api": True, "batch_journal": journal, "batch_poll_s": poll}
            )
        if ray:
            options = options.model_copy(update={"ray_address": ray, "ray_workers": ray_workers})
        built = build_teacher(options)
        with (
            store_for(store, out, durability) as run_store,
            progress_bar("respond") as (bar, task),
        ):
            report = run_respond(
                built,
                run_store,
                in_path,
                out,
                settings,
                skip_bad=skip_bad,
                on_total=lambda n: bar.update(task, total=n),
                on_progress=lambda: bar.advance(task),
            )
        console.print(
            f"wrote {report.written} of {report.instructions} records to {out}; calls: {report.calls.summary()}"
        )
        if report.skipped_bad:
            console.print(f"skipped {report.skipped_bad} malformed input line(s)")
        if report.truncated:
            verb = "left out" if drop_truncated else "kept, marked finish_reason=length"
            console.print(f"{report.truncated} answer(s) cut by --max-tokens ({verb})")
        if report.failed:
            error_line(
                f"{report.failed} instruction(s) have no answer (reasons in {report.failures_path}); "
                "re-run the same command to retry them"
            )
            raise typer.Exit(EXIT_INCOMPLETE)
