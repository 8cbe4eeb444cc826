"""The ``rate`` command group: serve the rating app, invite raters, export ratings."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated

import typer

from herdsman.cli.app import (
    app,
    user_errors,
)
from herdsman.console import console
from herdsman.errors import HerdsmanError
from herdsman.io.guard import Input, Output, check_paths

MIN_ADMIN_TOKEN = 16

rate_app = typer.Typer(
    help="Human rating of model answers: serve the rating app, invite raters, export.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(rate_app, name="rate")


LOOPBACK_NAMES = ("localhost", "localhost.", "ip6-localhost")
DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(option: str, text: str) -> float:
    """Seconds from ``90``, ``90s``, ``30m``, ``48h`` or ``7d``.

    Raises:
        HerdsmanError: Not a positive duration (the message names ``option``).
    """
    raw = text.strip().lower()
    unit = DURATION_UNITS.get(raw[-1:]) if raw else None
    number = raw[:-1] if unit is not None else raw
    try:
        seconds = float(number) * (unit or 1.0)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise HerdsmanError(
            f"{option} {text!r}: give a positive duration in seconds, or with s, m, h or d (48h, 7d)"
        )
    return seconds


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or the name ``localhost``."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def admin_token_from_env(variable: str) -> str:
    """The admin token held in the environment variable ``variable``.

    Raises:
        HerdsmanError: The variable is unset, or its value too short to be a secret.
    """
    token = os.environ.get(variable, "").strip()
    if not token:
        raise HerdsmanError(f"--admin-token-env {variable}: the variable is not set or empty")
    if len(token) < MIN_ADMIN_TOKEN:
        raise HerdsmanError(
            f"--admin-token-env {variable}: the token is shorter than {MIN_ADMIN_TOKEN} "
            "characters (make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return token


@rate_app.command("serve")
def rate_serve(
    answers: Annotated[
        list[Path] | None,
        typer.Argument(help="Answer files to add to the database (optional when it has items)."),
    ] = None,
    db: Annotated[Path, typer.Option("--db", help="Rating database (SQLite).")] = Path(
        "ratings.sqlite"
    ),
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to bind. Other than loopback only with --require-invite "
            "and --admin-token-env (the app is plain HTTP: put a TLS proxy in front).",
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8000,
    raters_per_item: Annotated[
        int | None,
        typer.Option("--raters-per-item", min=1, help="Stop showing an item after N raters."),
    ] = None,
    require_invite: Annotated[
        bool, typer.Option("--require-invite", help="Only invite links log in (no names).")
    ] = False,
    admin_token_env: Annotated[
        str | None,
        typer.Option(
            "--admin-token-env",
            metavar="VAR",
            help="Take the admin token (results, exports) from this environment variable "
            "instead of generating one.",
        ),
    ] = None,
    session_ttl: Annotated[
        str,
        typer.Option(
            "--session-ttl",
            help="How long a rater's session cookie stays valid: seconds, or 30m, 12h, 7d.",
        ),
    ] = "7d",
) -> None:
    """Serve the rating app: raters grade anonymised answers A-D, one instruction at a time.

    Prints the admin token (or, with --admin-token-env, uses yours) and a
    one-time admin link: results and exports need one of them.

    Examples:

      herdsman rate serve self-instruct/predictions/*.jsonl --db ratings.sqlite

      HERDSMAN_ADMIN_TOKEN=... herdsman rate serve --db run/eval/ratings.sqlite
      --host 0.0.0.0 --require-invite --admin-token-env HERDSMAN_ADMIN_TOKEN
    """
    with user_errors():
        if not is_loopback(host) and not (require_invite and admin_token_env):
            raise HerdsmanError(
                f"--host {host}: not a loopback address, and the app is plain HTTP; "
                "serving to other hosts needs both --require-invite and --admin-token-env"
            )
        token = admin_token_from_env(admin_token_env) if admin_token_env else None
        session_seconds = parse_duration("--session-ttl", session_ttl)

    import uvicorn

    from herdsman.evaluate.answer_sheets import read_answer_sheet
    from herdsman.rating.app import create_app
    from herdsman.rating.db import RatingDB

    with user_errors():
        check_paths([Input(a, "ANSWERS", "file") for a in answers or []], [Output(db, "--db")])
        rating_db = RatingDB(db)
        if answers:
            added = rating_db.import_sheet(read_answer_sheet(answers))
            console.print(f"added {added} items to {db}")
        if rating_db.item_count() == 0:
            raise HerdsmanError(f"{db}: no items to rate: pass answer files")
        app = create_app(
            db, raters_per_item, require_invite, admin_token=token, session_ttl=session_seconds
        )
        base = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        if not is_loopback(host):
            console.print(f"note: serving on {host}: reachable from other machines")
        console.print(f"rating app on {base}/ ({rating_db.item_count()} items)", soft_wrap=True)
        admin = app.state.admin
        console.print(
            f"admin (results, exports): open {base}/admin/login/{admin.one_time_code()} "
            "once in your browser (one-time link)",
            soft_wrap=True,
        )
        bearer = f"${admin_token_env}" if admin_token_env else admin.token
        console.print(f"admin token: send 'Authorization: Bearer {bearer}'", soft_wrap=True)
        uvicorn.run(app, host=host, port=port, log_level="warning")


@rate_app.command("invite")
def rate_invite(
    names: Annotated[list[str], typer.Argument(help="Rater names.")],
    db: Annotated[Path, typer.Option("--db", help="Rating database (SQLite).")] = Path(
        "ratings.sqlite"
    ),
    url: Annotated[
        str, typer.Option("--url", help="Base URL of the app.")
    ] = "http://127.0.0.1:8000",
    invite_ttl: Annotated[
        str,
        typer.Option(
            "--invite-ttl",
            help="How long the links stay valid: seconds, or 30m, 48h, 7d.",
        ),
    ] = "7d",
) -> None:
    """Print an invite link per rater (re-inviting a name replaces its old link).

    A link logs its rater in, again and on any browser, until it expires;
    inviting a name that logged in by name gives that rater a way back.

    Examples:

      herdsman rate invite alice bob --db run/eval/ratings.sqlite

      herdsman rate invite carol --db run/eval/ratings.sqlite --url https://rate.example.org --invite-ttl 48h
    """
    from herdsman.rating.db import RatingDB

    with user_errors():
        seconds = parse_duration("--invite-ttl", invite_ttl)
        rating_db = RatingDB(db)
        for name in names:
            console.print(
                f"{name}: {url.rstrip('/')}/invite/{rating_db.invite(name, seconds)}",
                soft_wrap=True,
            )


@rate_app.command("export")
def rate_export(
    db: Annotated[Path, typer.Option("--db", help="Rating database (SQLite).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output .csv or .json.")],
) -> None:
    """Export every rating, and print per-model grade counts and Krippendorff's alpha.

    One row per rating (rater, item, instruction, model, grade, created_at); .json or .csv by the
    extension of --out.

    Examples:

      herdsman rate export --db run/eval/ratings.sqlite -o ratings.csv

      herdsman rate export --db run/eval/ratings.sqlite -o ratings.json
    """
    from herdsman.io.atomic import write_text_atomic
    from herdsman.rating.db import RatingDB, agreement

    with user_errors():
        if not db.is_file():
            raise HerdsmanError(f"{db}: no such rating database")
        check_paths([Input(db, "--db", "file")], [Output(out, suffixes=(".csv", ".json"))])
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
