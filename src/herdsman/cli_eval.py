"""Commands that evaluate a herd: ``eval``, ``judge``, ``rate ...`` and ``report``.

Registered on :data:`herdsman.cli.app` when :mod:`herdsman.cli` is imported.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from herdsman.cli import (
    BaseUrlOpt,
    BatchOpt,
    ConcOpt,
    KeyEnvOpt,
    ModelOpt,
    PricesOpt,
    RetriesOpt,
    RpmOpt,
    StoreOpt,
    TeacherOpt,
    TimeoutOpt,
    TpmOpt,
    _teacher_options,
    app,
    default_store,
    user_errors,
)
from herdsman.console import console, progress_bar
from herdsman.errors import HerdsmanError
from herdsman.teachers import OPENAI_DEFAULT_URL

rate_app = typer.Typer(
    help="Human rating of model answers: serve the rating app, invite raters, export.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(rate_app, name="rate")


@app.command("eval")
def eval_command(
    models: Annotated[list[Path], typer.Argument(help="Student (or any HF model) folders.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder.")] = Path("eval"),
    tasks: Annotated[
        list[str] | None,
        typer.Option(
            "--tasks",
            help="lm-eval task or group names (herdsman_offline, herdsman_paper, or any lm-eval task).",
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Items per task.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 8,
    no_bases: Annotated[
        bool, typer.Option("--no-bases", help="Do not evaluate the students' base models.")
    ] = False,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", help="herdsman dataset folder: imitation score on its held-out split."
        ),
    ] = None,
    probes: Annotated[
        Path | None, typer.Option("--probes", help="Probe prompts file (one per line).")
    ] = None,
    online: Annotated[
        bool,
        typer.Option("--online", help="Let lm-eval download benchmark data (the paper's tasks)."),
    ] = False,
) -> None:
    """Benchmarks (lm-eval), imitation score and probe answers for students and their bases.

    Writes benchmarks.json, probes.json and (with --data) imitation.json into OUT,
    and prints one table. Decoder-only students are evaluated inside the prompt
    wrapper they were trained with; bases with their student's wrapper.

    Examples:

      herdsman eval run/students/* -o run/eval

      herdsman eval run/students/t5 --tasks herdsman_paper --online --limit 200
    """
    if online:
        os.environ["HF_DATASETS_OFFLINE"] = "0"
        os.environ["HF_HUB_OFFLINE"] = "0"
    from herdsman.eval_models import collect_models
    from herdsman.evaluation import EvalSettings, Evaluator, load_probes
    from herdsman.results_table import benchmark_table

    with user_errors():
        found = collect_models(models, with_bases=not no_bases)
        prompts = load_probes(probes)  # bad input fails before any model loads
        evaluator = Evaluator(
            found,
            out,
            EvalSettings(
                tasks=tuple(tasks or ["herdsman_offline"]), limit=limit, batch_size=batch_size
            ),
            log=console.print,
        )
        result = evaluator.benchmarks()
        if data is not None:
            evaluator.imitation(data)
        evaluator.probes(prompts)
        console.print(benchmark_table(result))
        for task, why in result["unavailable"].items():
            console.print(f"not run: {task}: {why}")
        console.print(f"wrote {out / 'benchmarks.json'}")


@app.command()
def judge(
    answers: Annotated[
        list[Path],
        typer.Argument(
            help="Answer files: JSONL {instruction, input?, model, answer} or *_predictions.jsonl."
        ),
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output JSON.")],
    pairwise: Annotated[
        bool, typer.Option("--pairwise", help="Also compare every pair of models, both orders.")
    ] = False,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="First N items.")] = None,
    retries: Annotated[
        int,
        typer.Option("--retries", min=0, max=5, help="Re-asks for a reply that is not a grade."),
    ] = 1,
    teacher: TeacherOpt = "local",
    model: ModelOpt = None,
    base_url: BaseUrlOpt = OPENAI_DEFAULT_URL,
    api_key_env: KeyEnvOpt = "OPENAI_API_KEY",
    concurrency: ConcOpt = 16,
    batch_size: BatchOpt = 16,
    rpm: RpmOpt = None,
    tpm: TpmOpt = None,
    max_retries: RetriesOpt = 6,
    timeout: TimeoutOpt = 120.0,
    prices: PricesOpt = None,
    store: StoreOpt = None,
) -> None:
    """Grade answers with the paper's A-D rubric using a teacher model as judge.

    Replies are parsed strictly (a reply must start with the grade); an
    unparsable reply is asked once more, then recorded as unparsed. With
    --pairwise every pair is judged in both orders; disagreement is a tie.
    Judgements are cached in the run store.

    Examples:

      herdsman judge ../shared/data/self_instruct/predictions/*.jsonl -o judge.json --teacher openai --model gpt-4o-mini

      herdsman judge run/eval/answer_sheet.jsonl -o run/eval/judge.json
    """
    from herdsman.answer_sheets import AnswerSheet, read_answer_sheet
    from herdsman.atomic import write_text_atomic
    from herdsman.judge import compare_pairs, grade_answers
    from herdsman.results_table import grades_table
    from herdsman.store import RunStore
    from herdsman.teachers.factory import build_teacher

    with user_errors():
        sheet = read_answer_sheet(answers)
        if limit:
            kept = sheet.items[:limit]
            sheet = AnswerSheet(kept, {i.id: sheet.answers[i.id] for i in kept}, sheet.models)
        options = _teacher_options(
            teacher, model, base_url, api_key_env, concurrency, batch_size,
            rpm, tpm, max_retries, timeout, prices,
        )  # fmt: skip
        built = build_teacher(options)
        per_item = len(sheet.models) + (
            len(sheet.models) * (len(sheet.models) - 1) if pairwise else 0
        )
        try:
            with (
                RunStore(store or default_store(out)) as run_store,
                progress_bar("judge") as (bar, task),
            ):
                bar.update(task, total=len(sheet.items) * per_item)
                report = grade_answers(
                    sheet, built, run_store, retries, on_progress=lambda: bar.advance(task)
                )
                if pairwise:
                    compare_pairs(
                        sheet, built, run_store, None, retries,
                        on_progress=lambda: bar.advance(task), report=report,
                    )  # fmt: skip
        finally:
            built.close()
        result = report.as_dict()
        write_text_atomic(out, json.dumps(result, indent=1))
        console.print(grades_table(result))
        console.print(f"calls: {report.stats.summary()}")
        console.print(f"wrote {out}")
        if result["bias"]["failed"]:
            raise typer.Exit(3)


@rate_app.command("serve")
def rate_serve(
    answers: Annotated[
        list[Path] | None,
        typer.Argument(help="Answer files to add to the database (optional when it has items)."),
    ] = None,
    db: Annotated[Path, typer.Option("--db", help="Rating database (SQLite).")] = Path(
        "ratings.sqlite"
    ),
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8000,
    raters_per_item: Annotated[
        int | None,
        typer.Option("--raters-per-item", min=1, help="Stop showing an item after N raters."),
    ] = None,
    require_invite: Annotated[
        bool, typer.Option("--require-invite", help="Only invite links log in (no names).")
    ] = False,
) -> None:
    """Serve the rating app: raters grade anonymised answers A-D, one instruction at a time.

    Examples:

      herdsman rate serve ../shared/data/self_instruct/predictions/*.jsonl --db ratings.sqlite

      herdsman rate serve --db run/eval/ratings.sqlite --port 8080
    """
    import uvicorn

    from herdsman.answer_sheets import read_answer_sheet
    from herdsman.rating_app import create_app
    from herdsman.rating_db import RatingDB

    with user_errors():
        rating_db = RatingDB(db)
        if answers:
            added = rating_db.import_sheet(read_answer_sheet(answers))
            console.print(f"added {added} items to {db}")
        if rating_db.item_count() == 0:
            raise HerdsmanError(f"{db}: no items to rate: pass answer files")
        if host not in ("127.0.0.1", "localhost", "::1"):
            console.print(f"note: serving on {host}: reachable from other machines")
        console.print(f"rating app on http://{host}:{port}/ ({rating_db.item_count()} items)")
        uvicorn.run(
            create_app(db, raters_per_item, require_invite),
            host=host,
            port=port,
            log_level="warning",
        )


@rate_app.command("invite")
def rate_invite(
    names: Annotated[list[str], typer.Argument(help="Rater names.")],
    db: Annotated[Path, typer.Option("--db", help="Rating database (SQLite).")] = Path(
        "ratings.sqlite"
    ),
    url: Annotated[
        str, typer.Option("--url", help="Base URL of the app.")
    ] = "http://127.0.0.1:8000",
) -> None:
    """Print an invite link per rater (re-inviting a name replaces its old link)."""
    from herdsman.rating_db import RatingDB

    with user_errors():
        rating_db = RatingDB(db)
        for name in names:
            console.print(
                f"{name}: {url.rstrip('/')}/invite/{rating_db.invite(name)}", soft_wrap=True
            )


@rate_app.command("export")
def rate_export(
    db: Annotated[Path, typer.Option("--db", help="Rating database (SQLite).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output .csv or .json.")],
) -> None:
    """Export every rating, and print per-model grade counts and Krippendorff's alpha."""
    from herdsman.atomic import write_text_atomic
    from herdsman.rating_db import RatingDB, agreement

    with user_errors():
        if not db.is_file():
            raise HerdsmanError(f"{db}: no such rating database")
        rating_db = RatingDB(db)
        fmt = "json" if out.suffix.lower() == ".json" else "csv"
        write_text_atomic(out, rating_db.export(fmt))
        rows = rating_db.ratings()
        stats = agreement(rows) if rows else {"alpha": None, "raters": 0, "shared_units": 0}
        alpha = f"{stats['alpha']:.3f}" if stats["alpha"] is not None else "n/a"
        console.print(
            f"wrote {len(rows)} ratings to {out}; raters {stats['raters']}, "
            f"Krippendorff's alpha (ordinal) {alpha} over {stats['shared_units']} shared answers"
        )


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="Run folder.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output HTML.")] = Path("report.html"),
) -> None:
    """Write one self-contained HTML report of a run (figures embedded).

    Parts the run has not produced yet are listed in the page and here.

    Example:

      herdsman report run -o report.html
    """
    from herdsman.report import write_report

    with user_errors():
        data = write_report(run_dir, out)
        for part, why in data.missing.items():
            console.print(f"not in the report: {part}: {why}")
        console.print(f"wrote {out}")
