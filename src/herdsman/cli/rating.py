"""The ``rate`` command group: serve the rating app, invite raters, export ratings."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from herdsman.cli.app import (
    app,
    user_errors,
)
from herdsman.console import console
from herdsman.errors import HerdsmanError

if TYPE_CHECKING:
    pass

rate_app = typer.Typer(
    help="Human rating of model answers: serve the rating app, invite raters, export.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(rate_app, name="rate")


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

      herdsman rate serve self-instruct/predictions/*.jsonl --db ratings.sqlite

      herdsman rate serve --db run/eval/ratings.sqlite --port 8080
    """
    import uvicorn

    from herdsman.evaluate.answer_sheets import read_answer_sheet
    from herdsman.rating.app import create_app
    from herdsman.rating.db import RatingDB

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
    from herdsman.rating.db import RatingDB

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
    from herdsman.io.atomic import write_text_atomic
    from herdsman.rating.db import RatingDB, agreement

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
