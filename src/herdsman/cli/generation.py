"""Commands of the data-generation stages: ``seeds``, ``topics``, ``generate``, ``dedup``, ``respond``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from herdsman.cli.app import (
    EXIT_INCOMPLETE,
    SEED_FORMATS,
    SkipBadOpt,
    StoreOpt,
    app,
    default_store,
    store_for,
    user_errors,
)
from herdsman.cli.section_options import SectionSpec, with_section
from herdsman.cli.teacher_options import TeacherGroup
from herdsman.config import DedupConfig, GenerateConfig, RespondConfig, StoreConfig, TopicsConfig
from herdsman.console import console, error_line, phase_progress
from herdsman.errors import HerdsmanError
from herdsman.io.guard import JSONL_SUFFIXES, Input, Output, check_paths

if TYPE_CHECKING:
    from herdsman.teachers.options import TeacherOptions


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
        check_paths([Input(p, "INPUT") for p in inputs], [Output(out, suffixes=JSONL_SUFFIXES)])
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


#: A topic list is plain text, one per line.
TOPIC_SUFFIXES = (".txt", ".lst", ".list", "")


@app.command()
@with_section(SectionSpec(TopicsConfig, "settings"))
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
    skip_bad: Annotated[
        bool,
        typer.Option("--skip-bad", help="Skip malformed tuples (counted) instead of stopping."),
    ] = False,
    *,
    settings: TopicsConfig,
) -> None:
    """Filter Wikipedia's category list to common topics (the paper's topic-guided generation).

    Defaults are the paper's: fewer than 3 words, more than 10 subcategories,
    more than 50 pages (bounds are inclusive, on the raw cat_subcats / cat_pages).

    Example:

      herdsman topics enwiki-latest-category.sql.gz -o topics.txt
    """
    from herdsman.pipeline.stages.topics import filter_topics

    with user_errors():
        check_paths([Input(dump, "DUMP", "file")], [Output(out, suffixes=TOPIC_SUFFIXES)])
        filter_topics(dump, out, settings, skip_bad=skip_bad)


@app.command()
@with_section(
    SectionSpec(GenerateConfig, "settings", flatten=frozenset({"sampling"})),
    SectionSpec(StoreConfig, "store_settings"),
    TeacherGroup(),
)
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
    store: StoreOpt = None,
    *,
    settings: GenerateConfig,
    store_settings: StoreConfig,
    teacher_options: TeacherOptions,
) -> None:
    """Generate new instructions with the teacher until N are kept after filtering and dedup.

    Resumable: the same command after a crash replays finished calls from the run store.
    Every setting of a config's generate: section is an option here under the same name.

    Examples:

      herdsman generate --strategy example --seeds seeds.jsonl -n 1000 -o gen.jsonl --teacher openai --model gpt-4o-mini

      herdsman generate --strategy topic --seeds seeds.jsonl --topics topics.txt -n 1000 -o topic.jsonl
    """
    from herdsman.generation.seeds import load_seeds
    from herdsman.generation.topics import load_topic_list
    from herdsman.pipeline.run_files import make_planner
    from herdsman.pipeline.stages.generate import generate_instructions, generate_settings
    from herdsman.teachers.factory import build_teacher

    with user_errors():
        check_paths(
            [
                Input(seeds_path, "--seeds", "file"),
                *([Input(topics_path, "--topics", "file")] if topics_path else []),
                *(
                    [Input(Path(settings.template), "--template", "file")]
                    if settings.template
                    else []
                ),
            ],
            [
                Output(out, suffixes=JSONL_SUFFIXES),
                *([Output(store, "--store")] if store else []),
            ],
        )
        run_settings = generate_settings(settings, n, teacher_options)
        seed_list = list(load_seeds(seeds_path, "auto"))
        topic_list = load_topic_list(topics_path) if topics_path else None
        template = Path(settings.template) if settings.template else None
        planner = make_planner(strategy, seed_list, topic_list, settings, template)
        if planner.skipped_subsets:
            console.print(
                f"note: {len(planner.skipped_subsets)} subset(s) have fewer than "
                f"{settings.examples} seeds and are not used"
            )
        built = build_teacher(teacher_options.live())  # waves: never the Batch API
        with store_for(store, out, store_settings.durability) as run_store:
            report = generate_instructions(built, run_store, planner, run_settings, out)
        console.print(f"wrote {report.kept} instructions to {out}")
        if not report.reached:
            error_line(
                f"kept {report.kept} of {n} after {report.calls} calls (budget "
                f"{run_settings.call_budget()}); raise --max-calls, or use a stronger teacher"
            )
            raise typer.Exit(EXIT_INCOMPLETE)


@app.command()
@with_section(SectionSpec(DedupConfig, "settings"))
def dedup(
    in_path: Annotated[
        Path, typer.Argument(metavar="IN.jsonl", help="Records with an instruction field.")
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="Kept records, in input order.")],
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
    *,
    settings: DedupConfig,
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

    with user_errors():
        check_paths(
            [Input(in_path, "IN.jsonl", "file")],
            [
                Output(out, suffixes=(*JSONL_SUFFIXES, ".json")),
                *([Output(dropped, "--dropped", suffixes=JSONL_SUFFIXES)] if dropped else []),
            ],
        )
    with user_errors(), phase_progress("dedup") as progress:
        stats = dedup_file(
            in_path,
            out,
            settings.threshold,
            field_name,
            dropped,
            skip_bad=skip_bad,
            fmt=fmt,
            method=settings.method,
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
@with_section(
    SectionSpec(RespondConfig, "settings", flatten=frozenset({"sampling"})),
    SectionSpec(StoreConfig, "store_settings"),
    TeacherGroup(),
)
def respond(
    in_path: Annotated[Path, typer.Argument(metavar="IN.jsonl", help="Instructions to answer.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output LaMini JSONL.")],
    fmt: Annotated[
        str, typer.Option("--format", help=f"Input format, one of: {SEED_FORMATS}.")
    ] = "auto",
    store: StoreOpt = None,
    skip_bad: SkipBadOpt = False,
    *,
    settings: RespondConfig,
    store_settings: StoreConfig,
    teacher_options: TeacherOptions,
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
    from herdsman.pipeline.stages.respond import (
        answer_instructions,
        export_answer_logprobs,
        respond_settings,
    )
    from herdsman.teachers.factory import build_teacher

    with user_errors():
        check_paths(
            [Input(in_path, "IN.jsonl", "file")],
            [
                Output(out, suffixes=JSONL_SUFFIXES),
                Output(out.with_name(out.name + ".failed.jsonl"), "(failures)"),
                Output(out.with_name(out.name + ".logprobs"), "(log-probabilities)", "folder"),
                *([Output(store, "--store")] if store else []),
            ],
        )
        options = teacher_options
        if getattr(options, "batch_api", False) and not getattr(options, "batch_journal", None):
            journal = (store or default_store(out)).parent / "batches.jsonl"
            options = options.model_copy(update={"batch_journal": journal})
        if not in_path.exists():
            raise HerdsmanError(f"{in_path}: no such file")
        run_settings = respond_settings(settings, options, fmt)
        built = build_teacher(options)
        with store_for(store, out, store_settings.durability) as run_store:
            report = answer_instructions(
                built, run_store, in_path, out, run_settings, skip_bad=skip_bad
            )
            if run_settings.logprobs:
                export_answer_logprobs(run_store, out, options, run_settings.logprobs)
        console.print(
            f"wrote {report.written} of {report.instructions} records to {out}; "
            f"calls: {report.calls.summary()}"
        )
        if report.skipped_bad:
            console.print(f"skipped {report.skipped_bad} malformed input line(s)")
        if report.truncated:
            verb = "left out" if settings.drop_truncated else "kept, marked finish_reason=length"
            console.print(f"{report.truncated} answer(s) cut by --max-tokens ({verb})")
        if report.failed:
            error_line(
                f"{report.failed} instruction(s) have no answer (reasons in "
                f"{report.failures_path}); re-run the same command to retry them"
            )
            raise typer.Exit(EXIT_INCOMPLETE)
