"""The evaluation commands as a user runs them: eval, rate serve/invite/export."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import assert_one_line_error, require_data, run_cli
from tests.evaluate.models_fixture import tiny_student
from tests.helpers.tiny_models import alpaca_dataset


def test_eval_cli_writes_scores_imitation_and_probes(tmp_path: Path) -> None:
    student = tiny_student(tmp_path)
    data = alpaca_dataset(tmp_path / "data", n=24, held_out=0.25)
    probes = tmp_path / "probes.txt"
    probes.write_text("# mine\nSay hi.\n\nName a fruit.\n")
    out = tmp_path / "eval"
    result = run_cli(
        "eval", str(student), "-o", str(out), "--tasks", "herdsman_sentiment",
        "--limit", "4", "--data", str(data), "--probes", str(probes),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    bench = json.loads((out / "benchmarks.json").read_text())
    assert [m["name"] for m in bench["models"]] == ["tiny-student", "tiny-base (base)"]
    imitation = json.loads((out / "imitation.json").read_text())
    assert imitation["items"] == 6 and len(imitation["scores"]) == 2
    assert json.loads((out / "probes.json").read_text())["prompts"] == ["Say hi.", "Name a fruit."]
    assert "sentiment" in result.stderr + result.stdout


def test_eval_cli_bad_input(tmp_path: Path) -> None:
    assert_one_line_error(
        run_cli("eval", str(tmp_path / "missing")), "missing", "no such model folder"
    )
    empty = tmp_path / "probes.txt"
    empty.write_text("# nothing\n")
    student = tiny_student(tmp_path)
    assert_one_line_error(
        run_cli("eval", str(student), "--probes", str(empty), "--limit", "1",
                "--tasks", "herdsman_nli", "-o", str(tmp_path / "e")),
        str(empty), "no probe prompts",
    )  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for(base: str, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(base, timeout=1)
            return
        except httpx.TransportError:
            assert server.poll() is None, server.communicate()[1]
            assert time.monotonic() < deadline
            time.sleep(0.2)


def _printed(server: subprocess.Popen[str], start: str) -> str:
    """The rest of the first stderr line of the server that starts with ``start``."""
    assert server.stderr is not None
    for line in server.stderr:
        if line.startswith(start):
            return line.removeprefix(start).strip()
    raise AssertionError(f"the server never printed {start!r}")


def test_rate_serve_invite_export(tmp_path: Path) -> None:
    db = tmp_path / "ratings.sqlite"
    assert_one_line_error(run_cli("rate", "serve", "--db", str(db)), "no items to rate")
    files = sorted(require_data("self_instruct", "predictions").glob("*_predictions.jsonl"))
    invite = run_cli(
        "rate", "invite", "ann", "--db", str(db), "--url", "http://127.0.0.1:1",
        "--invite-ttl", "48h",
    )  # fmt: skip
    assert invite.returncode == 0, invite.stderr
    link = (invite.stdout + invite.stderr).split("ann: ")[1].split()[0]
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "herdsman", "rate", "serve", *map(str, files),
         "--db", str(db), "--port", str(port), "--require-invite"],
        env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(base, server)
        admin_link = _printed(server, "admin (results, exports): open ").split()[0]
        token = _printed(server, "admin token: send 'Authorization: Bearer ").rstrip("'")
        with httpx.Client(base_url=base) as client:
            assert client.post("/login", data={"name": "ann"}).status_code == 403
            invite_token = link.rsplit("/", 1)[1]
            assert client.get(f"/invite/{invite_token}").status_code == 303
            page = client.get("/rate").text
            assert "ann: 0 / 252 done" in page
            item = page.split('action="/rate/')[1].split('"')[0]
            grades = {"grade_0": "A", "grade_1": "B", "grade_2": "D"}
            assert client.post(f"/rate/{item}", data=grades).status_code == 303
            assert client.get("/export.json").status_code == 401  # a rater is not the admin
        bearer = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{base}/export.json", headers=bearer).json()[0]["rater"] == "ann"
        with httpx.Client() as browser:
            assert browser.get(admin_link).status_code == 303
            assert "Ratings so far" in browser.get(f"{base}/results").text
            assert httpx.get(admin_link).status_code == 403  # used up
    finally:
        server.terminate()
        server.wait(10)
    out = tmp_path / "ratings.json"
    exported = run_cli("rate", "export", "--db", str(db), "-o", str(out))
    assert exported.returncode == 0, exported.stderr
    rows = json.loads(out.read_text())
    assert sorted(r["grade"] for r in rows) == ["A", "B", "D"] and rows[0]["rater"] == "ann"
    assert_one_line_error(
        run_cli("rate", "export", "--db", str(tmp_path / "none.sqlite"), "-o", str(out)),
        "no such rating database",
    )


def test_rate_serve_admin_token_from_the_environment(tmp_path: Path) -> None:
    db = tmp_path / "ratings.sqlite"
    files = sorted(require_data("self_instruct", "predictions").glob("*_predictions.jsonl"))
    token = "env-admin-token-0123456789"
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "herdsman", "rate", "serve", *map(str, files), "--db", str(db),
         "--port", str(port), "--admin-token-env", "HERDSMAN_TEST_ADMIN"],
        env={**os.environ, "HERDSMAN_TEST_ADMIN": token},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(base, server)
        printed = _printed(server, "admin token: ")
        assert token not in printed and "$HERDSMAN_TEST_ADMIN" in printed
        assert httpx.get(f"{base}/export.csv").status_code == 401
        bearer = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{base}/export.csv", headers=bearer).text.startswith("rater,item")
    finally:
        server.terminate()
        server.wait(10)


def test_rate_bad_options_are_one_line_errors(tmp_path: Path) -> None:
    db = tmp_path / "new.sqlite"
    for args in (["--host", "0.0.0.0"], ["--host", "192.0.2.1", "--require-invite"],
                 ["--host", "example.org", "--admin-token-env", "HERDSMAN_TEST_ADMIN"]):  # fmt: skip
        assert_one_line_error(
            run_cli("rate", "serve", "--db", str(db), *args), "--host", "--require-invite"
        )
    public = ["--host", "0.0.0.0", "--require-invite", "--admin-token-env", "HERDSMAN_TEST_ADMIN"]
    assert_one_line_error(
        run_cli("rate", "serve", "--db", str(db), *public, env={"HERDSMAN_TEST_ADMIN": ""}),
        "--admin-token-env HERDSMAN_TEST_ADMIN", "not set",
    )  # fmt: skip
    assert_one_line_error(
        run_cli("rate", "serve", "--db", str(db), *public, env={"HERDSMAN_TEST_ADMIN": "short"}),
        "--admin-token-env HERDSMAN_TEST_ADMIN", "shorter",
    )  # fmt: skip
    assert_one_line_error(
        run_cli("rate", "serve", "--db", str(db), "--session-ttl", "soon"), "--session-ttl"
    )
    assert_one_line_error(
        run_cli("rate", "invite", "ann", "--db", str(db), "--invite-ttl", "0"), "--invite-ttl"
    )
    assert not db.exists()  # refused before anything was written
    # Both set: the host passes (and the empty database stops it before it binds).
    assert_one_line_error(
        run_cli("rate", "serve", "--db", str(db), *public,
                env={"HERDSMAN_TEST_ADMIN": "a-long-enough-admin-token"}),
        "no items to rate",
    )  # fmt: skip
