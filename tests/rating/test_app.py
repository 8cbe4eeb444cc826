"""The rating web app over loopback: escaping, forged posts, Chromium click-through, 50 raters."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import aiohttp
import httpx
import pytest

from herdsman.evaluate.answer_sheets import AnswerSheet, Item, read_answer_sheet
from herdsman.rating.app import create_app
from herdsman.rating.db import RatingDB
from tests.conftest import require_data
from tests.helpers.web import chromium, serve

HOSTILE = '<script>window.pwned = 1</script><b id="injected">bold</b> & "quotes"'


def _hostile_db(path: Path) -> RatingDB:
    sheet = AnswerSheet()
    first = Item("item-1", 'Greet the user. <img src=x onerror="window.pwned=2">')
    sheet.add(first, "model-a", "Hello there!")
    sheet.add(first, "model-b", HOSTILE)
    sheet.add(first, "model-c", "Hi.\nHow are you?")
    second = Item("item-2", "Say goodbye.")
    for model in ("model-a", "model-b", "model-c"):
        sheet.add(second, model, f"Goodbye from {model[-1]}.")
    db = RatingDB(path)
    db.import_sheet(sheet)
    return db


def _login(client: httpx.Client, name: str) -> None:
    response = client.post("/login", data={"name": name})
    assert response.status_code == 303


def test_answers_are_escaped_and_model_names_hidden(tmp_path: Path) -> None:
    _hostile_db(tmp_path / "r.sqlite")
    with serve(create_app(tmp_path / "r.sqlite")) as url, httpx.Client(base_url=url) as client:
        _login(client, "ann")
        page = client.get("/rate")
    assert page.status_code == 200
    html = page.text
    assert "<script>window.pwned" not in html
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in html
    assert '<b id="injected">' not in html and "<img src=x" not in html
    assert "model-a" not in html and "model-b" not in html  # anonymised
    assert "script-src 'nonce-" in page.headers["content-security-policy"]


def test_forged_posts_are_refused(tmp_path: Path) -> None:
    db = _hostile_db(tmp_path / "r.sqlite")
    app = create_app(tmp_path / "r.sqlite", admin_token="t" * 32)
    with serve(app) as url, httpx.Client(base_url=url) as client:
        assert client.post("/rate/0", data={"grade_0": "A"}).status_code == 401
        _login(client, "ann")
        assert 'action="/rate/0"' in client.get("/rate").text  # item-1 is at position 0
        full = {"grade_0": "A", "grade_1": "B", "grade_2": "C"}
        for position in ("9", "-1", "item-1", "0x0", "%2E%2E"):
            assert client.post(f"/rate/{position}", data=full).status_code in (400, 404)
        assert client.post("/rate/0", data={**full, "grade_1": "Z"}).status_code == 400
        assert client.post("/rate/0", data={**full, "grade_7": "A"}).status_code == 400
        assert client.post("/rate/0", data={**full, "grade_x": "A"}).status_code == 400
        assert client.post("/rate/0", data={"grade_0": "A"}).status_code == 400
        assert db.ratings() == []
        assert client.post("/rate/0", data=full).status_code == 303
        assert len(db.ratings()) == 3
        assert client.get("/export.csv").status_code == 401  # the admin's, not a rater's
        exported = client.get(
            "/export.csv", headers={"Authorization": f"Bearer {'t' * 32}"}
        ).text.splitlines()
        assert exported[0].startswith("rater,item") and len(exported) == 4


def test_invite_only(tmp_path: Path) -> None:
    db = _hostile_db(tmp_path / "r.sqlite")
    token = db.invite("bob")
    app = create_app(tmp_path / "r.sqlite", require_invite=True)
    with serve(app) as url, httpx.Client(base_url=url) as client:
        assert client.post("/login", data={"name": "eve"}).status_code == 403
        assert client.get("/invite/wrong").status_code == 404
        assert client.get(f"/invite/{token}").status_code == 303
        assert "bob: 0 / 2 done" in client.get("/rate").text


def test_chromium_rates_with_keys_and_clicks(tmp_path: Path) -> None:
    db = _hostile_db(tmp_path / "r.sqlite")
    with serve(create_app(tmp_path / "r.sqlite")) as url, chromium() as browser:
        page = browser.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url)
        page.fill("#name", "ann")
        page.click("#start")
        page.wait_for_selector("#instruction")
        assert "<img src=x" in page.inner_text("#instruction")
        texts = page.locator(".answer-text").all_inner_texts()
        assert HOSTILE in texts  # shown as text, not run
        assert page.locator("#injected").count() == 0
        assert page.evaluate("window.pwned") is None
        assert "0 / 2 done" in page.inner_text("#progress")
        # Keyboard: a/b/c grade answers 1..3 in turn, Enter submits.
        for key in ("a", "b", "c"):
            page.keyboard.press(key)
        page.keyboard.press("Enter")
        # (A locator, not wait_for_function: the page's CSP forbids the eval that one needs.)
        page.locator("#progress", has_text="1 / 2").wait_for()
        # Mouse: click a grade for every answer, then the button.
        for slot, grade in enumerate("DDA"):
            page.click(f"#grade-{slot}-{grade}")
        page.click("#submit")
        page.wait_for_selector("text=All done, ann")
        assert dialogs == []
    ann = db.rater_named("ann")
    assert ann
    rows = {(r["item"], r["model"]): r["grade"] for r in db.ratings()}
    assert len(rows) == 6
    for item, grades in (("item-1", "ABC"), ("item-2", "DDA")):
        order = RatingDB.order(ann.id, item, ["model-a", "model-b", "model-c"])
        assert [rows[(item, m)] for m in order] == list(grades)


async def _rater(url: str, name: str, items: int, errors: list[str]) -> int:
    posted = 0
    # unsafe=True: aiohttp keeps no cookies for IP-address hosts otherwise.
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(base_url=url, cookie_jar=jar) as session:
        async with session.post("/login", data={"name": name}, allow_redirects=False) as r:
            if r.status != 303:
                errors.append(f"{name} login {r.status}")
                return 0
        for _ in range(items):
            async with session.get("/rate") as r:
                html = await r.text()
            found = re.search(r'action="/rate/([^"]+)"', html)
            if not found:
                errors.append(f"{name}: no item")
                return posted
            slots = len(set(re.findall(r'name="grade_(\d+)"', html)))
            data = {f"grade_{s}": "ABCD"[(s + posted) % 4] for s in range(slots)}
            async with session.post(
                f"/rate/{found.group(1)}", data=data, allow_redirects=False
            ) as r:
                if r.status != 303:
                    errors.append(f"{name}: post {r.status} {await r.text()}")
                    return posted
            posted += slots
    return posted


@pytest.mark.timeout(300)
def test_fifty_concurrent_raters_lose_nothing(tmp_path: Path) -> None:
    files = sorted(require_data("self_instruct", "predictions").glob("*_predictions.jsonl"))
    db = RatingDB(tmp_path / "r.sqlite")
    db.import_sheet(read_answer_sheet(files))
    errors: list[str] = []

    async def everyone(url: str) -> list[int]:
        return await asyncio.gather(*(_rater(url, f"rater{n:02d}", 4, errors) for n in range(50)))

    with serve(create_app(tmp_path / "r.sqlite")) as url:
        start = time.perf_counter()
        posted = asyncio.run(everyone(url))
        seconds = time.perf_counter() - start
    assert errors == []
    assert sum(posted) == 50 * 4 * 3
    rows = db.ratings()
    assert len(rows) == 600  # every grade accepted is in the database, none twice
    assert len({(r["rater"], r["item"], r["model"]) for r in rows}) == 600
    print(f"50 raters x 4 items: {len(rows)} ratings in {seconds:.1f}s")
