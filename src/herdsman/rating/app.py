"""``herdsman rate serve``: the human-rating web app (FastAPI + Jinja templates + SQLite).

Raters come in three ways: a name login creates a *new* rater (a name that is
taken is refused: a name is not a credential), an invite link (``herdsman rate
invite``) logs its rater in until it expires, and a returning rater's browser
carries a session cookie (httponly, ``SameSite=Strict``, valid for the session
lifetime). A rater sees one instruction at a time with every model's answer,
anonymised and in an order of their own, grades each answer A-D with buttons
or the keys a/b/c/d, and moves on; progress is shown and a rater who comes
back resumes where they stopped. The page posts the item's *position*, so any
item id works, whatever characters it holds.

Results and exports (``/results``, ``/export.csv``, ``/export.json``) show
every rater, model and grade, so they need the admin token: sent as
``Authorization: Bearer TOKEN``, or pasted once into ``/admin``, or through a
one-time admin link (``/admin/login/CODE``); the browser ways set an httponly
admin cookie.

Model answers are untrusted text: every template autoescapes, and every
response carries a ``Content-Security-Policy`` that forbids scripts other than
the page's own (by nonce), framing, foreign form targets, ``<base>`` and
plugins, plus ``nosniff``. Request bodies over :data:`MAX_BODY` bytes are
refused with 413 before anything parses them. Database work runs off the event
loop; when another writer holds the database longer than the busy timeout the
answer is 503 with ``Retry-After`` (the rating page retries by itself).
"""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import Cookie, FastAPI, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from herdsman.errors import SubmissionError
from herdsman.evaluate.rubric import GRADES, MEANINGS
from herdsman.io.templating import template_env
from herdsman.rating.db import (
    SESSION_TTL,
    DatabaseBusy,
    NameTaken,
    Rater,
    RatingDB,
    agreement,
    token_hash,
)

SESSION_COOKIE = "herdsman_rater"
ADMIN_COOKIE = "herdsman_admin"
MAX_BODY = 64 * 1024
"""The largest request body accepted, in bytes (a rating form is far smaller)."""
ADMIN_SESSION_TTL = 12 * 3600.0
"""How long the admin cookie stays valid: 12 hours (and never past a restart)."""
APP_BUSY_TIMEOUT = 5.0
"""Seconds a request waits for another writer's lock before answering 503."""
RETRY_AFTER = 2
"""Seconds a client is told to wait (``Retry-After``) after a 503."""


def content_security_policy(nonce: str | None = None) -> str:
    """The Content-Security-Policy every response carries.

    Args:
        nonce: The nonce of the page's own script; without one no script runs.
    """
    script = f"'nonce-{nonce}'" if nonce else "'none'"
    return (
        f"default-src 'self'; script-src {script}; style-src 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
        "form-action 'self'; base-uri 'none'; object-src 'none'"
    )


class SecurityHeaders:
    """ASGI middleware: CSP (unless the response set its own), nosniff and friends on every response."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers to the response start of every HTTP request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = content_security_policy()
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "no-referrer"
                if "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``limit`` bytes with 413.

    A declared ``Content-Length`` over the limit is refused before the app
    runs at all; a body without one (chunked) is counted as it streams in, and
    the request is cut off with 413 as soon as the count passes the limit,
    whatever the app was doing with it.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        """Wrap ``app``.

        Args:
            app: The ASGI app to protect.
            limit: The largest body accepted, in bytes.
        """
        self.app = app
        self.limit = limit

    async def _refuse(self, scope: Scope, send: Send) -> None:
        response = PlainTextResponse(
            f"request body too large (limit {self.limit} bytes)",
            status_code=413,
            headers={"Connection": "close"},
        )
        await response(scope, _no_receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then count the bytes the app receives."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope.get("headers", []):
            if key.lower() == b"content-length":
                declared = value.decode("latin-1").strip()
                if not declared.isdigit() or int(declared) > self.limit:
                    await self._refuse(scope, send)
                    return
        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # whatever the app makes of a cut-off body is not sent
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._refuse(scope, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


class AdminAuth:
    """The admin's credentials: a bearer token, one-time login links, cookie sessions.

    Only hashes are kept. Link codes and cookie sessions live in memory: a
    restart ends them (the token, from ``--admin-token-env``, survives).
    """

    def __init__(self, token: str | None = None, session_ttl: float = ADMIN_SESSION_TTL) -> None:
        """Use ``token``, or make a random one (read it back from :attr:`token`).

        Args:
            token: The admin token; ``None`` makes a random one.
            session_ttl: Seconds an admin cookie stays valid.
        """
        self.token = token or secrets.token_urlsafe(32)
        self.session_ttl = session_ttl
        self._token_hash = token_hash(self.token)
        self._codes: set[str] = set()
        self._sessions: dict[str, float] = {}
        self._lock = threading.Lock()

    def one_time_code(self) -> str:
        """A code for ``/admin/login/CODE`` that logs a browser in once."""
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes.add(token_hash(code))
        return code

    def _new_session(self) -> str:
        session = secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            self._sessions = {h: t for h, t in self._sessions.items() if t > now}
            self._sessions[token_hash(session)] = now + self.session_ttl
        return session

    def redeem(self, code: str) -> str | None:
        """Use up a one-time code; returns a cookie session, or ``None`` if unknown or used."""
        with self._lock:
            try:
                self._codes.remove(token_hash(code))
            except KeyError:
                return None
        return self._new_session()

    def is_token(self, token: str) -> bool:
        """Whether ``token`` is the admin token (compared in constant time)."""
        return secrets.compare_digest(token_hash(token), self._token_hash)

    def session_for(self, token: str) -> str | None:
        """A cookie session for the right admin token, else ``None``."""
        return self._new_session() if self.is_token(token) else None

    def status(self, authorization: str | None, cookie: str | None) -> int:
        """200 for a valid bearer token or admin cookie, 401 if none was sent, 403 if wrong."""
        if authorization:
            scheme, _, value = authorization.partition(" ")
            return 200 if scheme.lower() == "bearer" and self.is_token(value.strip()) else 403
        if cookie:
            with self._lock:
                expires = self._sessions.get(token_hash(cookie), 0.0)
            return 200 if expires > time.time() else 403
        return 401


class RatingApp(FastAPI):
    """FastAPI with :class:`SecurityHeaders` and :class:`BodyLimit` outside everything else.

    Outside even Starlette's error middleware, so a 500 carries the headers
    too and no byte of an oversized body reaches a parser.
    """

    body_limit: int = MAX_BODY

    def build_middleware_stack(self) -> ASGIApp:
        """The usual stack, wrapped in the body limit and the security headers."""
        return SecurityHeaders(BodyLimit(super().build_middleware_stack(), self.body_limit))


def create_app(
    db_path: Path,
    raters_per_item: int | None = None,
    require_invite: bool = False,
    admin_token: str | None = None,
    session_ttl: float = SESSION_TTL,
    busy_timeout: float = APP_BUSY_TIMEOUT,
    max_body: int = MAX_BODY,
) -> FastAPI:
    """The rating app over one database.

    Args:
        db_path: The rating database (created if missing).
        raters_per_item: Stop showing an item once this many other raters finished it.
        require_invite: Refuse name logins; raters come in through invite links.
        admin_token: The token for results and exports; ``None`` makes a random
            one. Either way ``app.state.admin`` (an :class:`AdminAuth`) holds it
            and mints one-time admin links.
        session_ttl: Seconds a rater's session cookie stays valid.
        busy_timeout: Seconds to wait for another writer's lock before a 503.
        max_body: The largest request body accepted, in bytes.
    """
    db = RatingDB(db_path, busy_timeout=busy_timeout)
    admin = AdminAuth(admin_token)
    env = template_env("herdsman.rating")
    app = RatingApp(title="herdsman rating", docs_url=None, redoc_url=None, openapi_url=None)
    app.body_limit = max_body
    app.state.admin = admin

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        nonce = secrets.token_urlsafe(12)
        html = env.get_template(name).render(
            nonce=nonce, grades=GRADES, meanings=MEANINGS, **context
        )
        response = HTMLResponse(html, status_code=status)
        response.headers["Content-Security-Policy"] = content_security_policy(nonce)
        return response

    def login_page(status: int, error: str | None) -> HTMLResponse:
        return page("rating_login.html", status, require_invite=require_invite, error=error)

    def logged_in(session: str, target: str = "/rate") -> RedirectResponse:
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE, session, max_age=int(session_ttl), httponly=True, samesite="strict"
        )
        return response

    def admin_refusal(request: Request, html: bool) -> Response | None:
        status = admin.status(
            request.headers.get("authorization"), request.cookies.get(ADMIN_COOKIE)
        )
        if status == 200:
            return None
        message = (
            "admin only: send Authorization: Bearer TOKEN (the token herdsman rate serve "
            "printed, or the value of --admin-token-env), or log in at /admin"
        )
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
        if html:
            response: Response = page("rating_admin.html", status, error=message)
            response.headers.update(headers)
            return response
        return PlainTextResponse(message, status_code=status, headers=headers)

    @app.exception_handler(DatabaseBusy)
    async def database_busy(request: Request, exc: DatabaseBusy) -> Response:
        headers = {"Retry-After": str(RETRY_AFTER)}
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            response = page("rating_busy.html", 503, retry=RETRY_AFTER)
            response.headers.update(headers)
            return response
        return PlainTextResponse(
            "the rating database is busy: try again in a moment", status_code=503, headers=headers
        )

    @app.get("/", response_class=HTMLResponse)
    def home(herdsman_rater: Annotated[str | None, Cookie()] = None) -> Response:
        if db.rater_for(herdsman_rater):
            return RedirectResponse("/rate", status_code=303)
        return login_page(200, None)

    @app.post("/login")
    def login(name: Annotated[str, Form()] = "") -> Response:
        if require_invite:
            return login_page(403, "use your invite link")
        try:
            session = db.login(name=name, ttl=session_ttl)
        except NameTaken as exc:
            return login_page(
                409,
                f"{exc}: a name logs in only once. If it is yours, come back in the browser "
                "you rated in or with your invite link; otherwise choose another name.",
            )
        if session is None:
            return login_page(400, "enter a name (1-80 characters)")
        return logged_in(session)

    @app.get("/invite/{token}")
    def invite(token: str) -> Response:
        session = db.login(invite=token, ttl=session_ttl)
        if session is None:
            return login_page(404, "unknown or expired invite link: ask for a new one")
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

    def record(rater: Rater, position: str, grades: dict[int, str]) -> None:
        item_id = db.item_at(int(position)) if position.isdigit() else None
        if item_id is None:
            raise SubmissionError(f"unknown item position {position!r}")
        db.submit(rater, item_id, grades)

    @app.post("/rate/{position}")
    async def submit(
        position: str, request: Request, herdsman_rater: Annotated[str | None, Cookie()] = None
    ) -> Response:
        rater = await run_in_threadpool(db.rater_for, herdsman_rater)
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
            await run_in_threadpool(record, rater, position, grades)
        except SubmissionError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        if request.headers.get("accept", "").startswith("application/json"):
            return JSONResponse({"ok": True, "next": "/rate"})
        return RedirectResponse("/rate", status_code=303)

    @app.get("/admin", response_class=HTMLResponse)
    def admin_home(request: Request) -> Response:
        cookie = request.cookies.get(ADMIN_COOKIE)
        if admin.status(request.headers.get("authorization"), cookie) == 200:
            return RedirectResponse("/results", status_code=303)
        return page("rating_admin.html", error=None)

    def admin_logged_in(session: str) -> Response:
        response = RedirectResponse("/results", status_code=303)
        response.set_cookie(
            ADMIN_COOKIE,
            session,
            max_age=int(ADMIN_SESSION_TTL),
            httponly=True,
            samesite="strict",
        )
        return response

    @app.post("/admin")
    def admin_login(token: Annotated[str, Form()] = "") -> Response:
        session = admin.session_for(token)
        if session is None:
            return page("rating_admin.html", 403, error="wrong admin token")
        return admin_logged_in(session)

    @app.get("/admin/login/{code}")
    def admin_link(code: str) -> Response:
        session = admin.redeem(code)
        if session is None:
            return page("rating_admin.html", 403, error="this admin link is unknown or used up")
        return admin_logged_in(session)

    @app.get("/results", response_class=HTMLResponse)
    def results(request: Request) -> Response:
        refused = admin_refusal(request, html=True)
        if refused is not None:
            return refused
        rows = db.ratings()
        return page(
            "rating_results.html",
            counts=db.grade_counts(),
            agreement=agreement(rows) if rows else None,
            ratings=len(rows),
        )

    @app.get("/export.csv")
    def export_csv(request: Request) -> Response:
        refused = admin_refusal(request, html=False)
        if refused is not None:
            return refused
        return Response(db.export("csv"), media_type="text/csv; charset=utf-8")

    @app.get("/export.json")
    def export_json(request: Request) -> Response:
        refused = admin_refusal(request, html=False)
        if refused is not None:
            return refused
        return Response(db.export("json"), media_type="application/json")

    return app
