"""``herdsman rate serve``: the human-rating web app (FastAPI + Jinja templates + SQLite).

A rater logs in by name (or with an invite link when ``require_invite``),
sees one instruction at a time with every model's answer, anonymised and in an
order of their own, grades each answer A-D with buttons or the keys a/b/c/d,
and moves on; progress is shown and a rater who comes back resumes where they
stopped. Model answers are untrusted text: every template autoescapes, and the
page sends ``Content-Security-Policy`` that forbids inline scripts other than
the app's own (by nonce).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import Cookie, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from herdsman.errors import SubmissionError
from herdsman.evaluate.rubric import GRADES, MEANINGS
from herdsman.io.templating import template_env
from herdsman.rating.db import RatingDB, agreement

SESSION_COOKIE = "herdsman_rater"


def create_app(
    db_path: Path, raters_per_item: int | None = None, require_invite: bool = False
) -> FastAPI:
    """The rating app over one database.

    Args:
        db_path: The rating database (created if missing).
        raters_per_item: Stop showing an item once this many other raters finished it.
        require_invite: Refuse name logins; raters come in through invite links.
    """
    db = RatingDB(db_path)
    env = template_env("herdsman.rating")
    app = FastAPI(title="herdsman rating", docs_url=None, redoc_url=None, openapi_url=None)

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        nonce = secrets.token_urlsafe(12)
        html = env.get_template(name).render(
            nonce=nonce, grades=GRADES, meanings=MEANINGS, **context
        )
        response = HTMLResponse(html, status_code=status)
        response.headers["Content-Security-Policy"] = (
            f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
            "img-src 'self' data:"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    def logged_in(session: str, target: str = "/rate") -> RedirectResponse:
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="strict")
        return response

    @app.get("/", response_class=HTMLResponse)
    def home(herdsman_rater: Annotated[str | None, Cookie()] = None) -> Response:
        if db.rater_for(herdsman_rater):
            return RedirectResponse("/rate", status_code=303)
        return page("rating_login.html", require_invite=require_invite, error=None)

    @app.post("/login")
    def login(name: Annotated[str, Form()] = "") -> Response:
        if require_invite:
            return page("rating_login.html", 403, require_invite=True, error="use your invite link")
        session = db.login(name=name)
        if session is None:
            return page(
                "rating_login.html",
                400,
                require_invite=False,
                error="enter a name (1-80 characters)",
            )
        return logged_in(session)

    @app.get("/invite/{token}")
    def invite(token: str) -> Response:
        session = db.login(invite=token)
        if session is None:
            return page(
                "rating_login.html", 404, require_invite=require_invite, error="unknown invite"
            )
        return logged_in(session)

    @app.get("/rate", response_class=HTMLResponse)
    def rate(herdsman_rater: Annotated[str | None, Cookie()] = None) -> Response:
        rater = db.rater_for(herdsman_rater)
        if rater is None:
            return RedirectResponse("/", status_code=303)
        done, total = db.progress(rater)
        item = db.next_item(rater, raters_per_item)
        if item is None:
            return page("rating_done.html", rater=rater, done=done, total=total)
        return page("rating_item.html", rater=rater, item=item, done=done, total=total)

    @app.post("/rate/{item_id}")
    async def submit(
        item_id: str, request: Request, herdsman_rater: Annotated[str | None, Cookie()] = None
    ) -> Response:
        rater = db.rater_for(herdsman_rater)
        if rater is None:
            return PlainTextResponse("not logged in", status_code=401)
        form = await request.form()
        grades: dict[int, str] = {}
        for key, value in form.multi_items():
            if not key.startswith("grade_"):
                continue
            try:
                slot = int(key.removeprefix("grade_"))
            except ValueError:
                return PlainTextResponse(f"bad field {key!r}", status_code=400)
            grades[slot] = str(value)
        try:
            db.submit(rater, item_id, grades)
        except SubmissionError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        if request.headers.get("accept", "").startswith("application/json"):
            return PlainTextResponse("ok")
        return RedirectResponse("/rate", status_code=303)

    @app.get("/results", response_class=HTMLResponse)
    def results() -> Response:
        rows = db.ratings()
        return page(
            "rating_results.html",
            counts=db.grade_counts(),
            agreement=agreement(rows) if rows else None,
            ratings=len(rows),
        )

    @app.get("/export.csv")
    def export_csv() -> Response:
        return Response(db.export("csv"), media_type="text/csv")

    @app.get("/export.json")
    def export_json() -> Response:
        return Response(db.export("json"), media_type="application/json")

    return app
