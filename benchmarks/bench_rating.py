"""Rating app under load: 50 concurrent raters vs one rater at a time, same server and data.

Loads Self-Instruct's 252 user-oriented instructions with three models' answers
(self_instruct/predictions in the public test data, docs/testing.md) into a fresh rating database,
serves the app with uvicorn on loopback, and has raters log in and grade
items through HTTP exactly as the browser form does (GET /rate, POST
/rate/ITEM). Baseline: one rater grading N items sequentially. Then 50 raters
at once, N items each. Prints ratings per second for both and their ratio, and
checks that every accepted grade is in the database exactly once.

Usage: python benchmarks/bench_rating.py [--raters 50] [--items 8]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tests.helpers
from herdsman.evaluate.answer_sheets import read_answer_sheet
from herdsman.rating.app import create_app
from herdsman.rating.db import RatingDB
from tests.helpers.data import public_data

DATA = public_data() / "self_instruct"


async def rater(url: str, name: str, items: int) -> int:
    """Log in and grade ``items`` items; return the number of grades accepted."""
    done = 0
    jar = aiohttp.CookieJar(unsafe=True)  # keep cookies for an IP-address host
    async with aiohttp.ClientSession(base_url=url, cookie_jar=jar) as session:
        await (await session.post("/login", data={"name": name}, allow_redirects=False)).read()
        for _ in range(items):
            html = await (await session.get("/rate")).text()
            item = re.search(r'action="/rate/([^"]+)"', html)
            assert item, html[:300]
            slots = len(set(re.findall(r'name="grade_(\d+)"', html)))
            data = {f"grade_{s}": "ABCD"[s % 4] for s in range(slots)}
            response = await session.post(
                f"/rate/{item.group(1)}", data=data, allow_redirects=False
            )
            assert response.status == 303, await response.text()
            done += slots
    return done


async def crowd(url: str, raters: int, items: int, prefix: str) -> int:
    """All raters at once."""
    counts = await asyncio.gather(*(rater(url, f"{prefix}{n}", items) for n in range(raters)))
    return sum(counts)


def main() -> None:
    """Run both loads against one server and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raters", type=int, default=50)
    parser.add_argument("--items", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ratings.sqlite"
        db = RatingDB(path)
        db.import_sheet(
            read_answer_sheet(sorted((DATA / "predictions").glob("*_predictions.jsonl")))
        )
        server = uvicorn.Server(
            uvicorn.Config(create_app(path), host="127.0.0.1", port=0, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        start = time.perf_counter()
        single = asyncio.run(crowd(url, 1, args.raters * args.items // 10, "solo"))
        single_s = time.perf_counter() - start
        start = time.perf_counter()
        many = asyncio.run(crowd(url, args.raters, args.items, "rater"))
        many_s = time.perf_counter() - start
        server.should_exit = True
        thread.join(10)
        stored = len(db.ratings())
    print(f"1 rater, sequential:   {single} ratings in {single_s:.2f}s = {single / single_s:.0f}/s")
    print(f"{args.raters} raters at once: {many} ratings in {many_s:.2f}s = {many / many_s:.0f}/s")
    print(f"ratio concurrent/sequential throughput: {(many / many_s) / (single / single_s):.2f}x")
    print(f"stored {stored} of {single + many} accepted ratings (lost: {single + many - stored})")


if __name__ == "__main__":
    main()
