from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from herdsman.errors import HerdsmanError
from herdsman.store.run_store import CallResult, RunStore, call_key

MSGS = [{"role": "user", "content": "Name a colour."}]


def result(key: str, status: str = "ok", text: str | None = "red", **kw: object) -> CallResult:
    return CallResult(
        key=key, stage="respond", teacher="openai", model="m", status=status, text=text, **kw
    )  # type: ignore[arg-type]


def test_call_key_depends_on_everything_that_determines_the_answer() -> None:
    url = "https://api.openai.com/v1"

    def key(*args: object, endpoint: str = url, **kw: object) -> str:
        return call_key(*args, endpoint=endpoint, **kw)  # type: ignore[arg-type]

    base = key("openai", "gpt-4o-mini", MSGS, {"temperature": 0.0, "max_tokens": 10})
    assert base == key("openai", "gpt-4o-mini", MSGS, {"max_tokens": 10, "temperature": 0.0})
    assert base == key(
        "openai", "gpt-4o-mini", MSGS, {"temperature": 0.0, "max_tokens": 10, "seed": None}
    )
    variants = {
        key("local", "gpt-4o-mini", MSGS, {"temperature": 0.0, "max_tokens": 10}),
        key("openai", "gpt-4o", MSGS, {"temperature": 0.0, "max_tokens": 10}),
        key(
            "openai",
            "gpt-4o-mini",
            [{"role": "user", "content": "Name a color."}],
            {"temperature": 0.0, "max_tokens": 10},
        ),
        key("openai", "gpt-4o-mini", MSGS, {"temperature": 0.7, "max_tokens": 10}),
        key("openai", "gpt-4o-mini", MSGS, {"temperature": 0.0, "max_tokens": 11}),
        key(
            "openai",
            "gpt-4o-mini",
            MSGS,
            {"temperature": 0.0, "max_tokens": 10},
            extra={"sample": 1},
        ),
        # The same model name behind another server is another teacher.
        key(
            "openai",
            "gpt-4o-mini",
            MSGS,
            {"temperature": 0.0, "max_tokens": 10},
            endpoint="http://127.0.0.1:8000/v1",
        ),
    }
    assert base not in variants and len(variants) == 7


def test_ok_is_never_overwritten_and_errors_are_upgraded(tmp_path: Path) -> None:
    with RunStore(tmp_path / "s.sqlite") as store:
        store.put_many([result("a"), result("b", status="error", text=None, error="HTTP 500")])
        store.put_many([result("a", text="blue")])
        assert store.get("a").text == "red"  # type: ignore[union-attr]
        assert store.done_keys(["a", "b", "c"]) == {"a"}
        store.put_many([result("b", text="green")])
        b = store.get("b")
        assert b is not None and b.ok and b.text == "green" and b.error is None
        assert b.attempts == 2  # attempts add up over runs
        assert store.count() == 2


def test_totals_sum_tokens_and_cost(tmp_path: Path) -> None:
    with RunStore(tmp_path / "s.sqlite") as store:
        store.put_many([result("a", prompt_tokens=10, completion_tokens=5, cost=0.5)])
        store.put_many([result("b", status="error", text=None, error="x")])
        totals = store.totals()
        assert (totals.ok, totals.errors, totals.prompt_tokens, totals.completion_tokens) == (
            1,
            1,
            10,
            5,
        )
        assert totals.cost == pytest.approx(0.5)


def test_get_many_handles_more_keys_than_one_query(tmp_path: Path) -> None:
    with RunStore(tmp_path / "s.sqlite") as store:
        store.put_many([result(f"k{i}") for i in range(1500)])
        keys = [f"k{i}" for i in range(0, 1600)]
        assert len(store.get_many(keys)) == 1500
        assert len(store.done_keys(keys)) == 1500


def test_concurrent_writers_in_one_process(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "s.sqlite")

    def writer(t: int) -> None:
        for start in range(0, 400, 20):
            store.put_many([result(f"t{t}-{i}", text=f"{t}-{i}") for i in range(start, start + 20)])
            store.put_many([result(f"shared-{i}", text="dup") for i in range(start, start + 20)])

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert store.count() == 8 * 400 + 400
    assert store.get("t3-199").text == "3-199"  # type: ignore[union-attr]
    store.close()


WRITER = textwrap.dedent(
    """
    import sys
    from herdsman.store.run_store import CallResult, RunStore
    store = RunStore(sys.argv[1])
    i = 0
    while True:
        rows = [CallResult(key=f"k{j}", stage="s", teacher="t", model="m", status="ok", text=f"text {j} " * 50)
                for j in range(i, i + 50)]
        store.put_many(rows)
        i += 50
        print(i, flush=True)
    """
)


def test_kill_9_during_writes_leaves_a_consistent_store(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    committed = 0
    deadline = time.time() + 60
    while committed < 3000 and time.time() < deadline:
        committed = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    with RunStore(path) as store:
        n = store.count()
        assert (
            n >= committed and n % 50 == 0
        )  # every acknowledged batch is there, never half a batch
        rows = store.get_many([f"k{j}" for j in range(n)])
        assert all(rows[f"k{j}"].text == f"text {j} " * 50 for j in range(n))


def test_not_a_store_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HerdsmanError, match="not a usable herdsman run store"):
        RunStore(path)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    RunStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value='99' WHERE name='schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(HerdsmanError, match="schema 99"):
        RunStore(path)


V1_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO meta VALUES ('key_scheme', '2');
CREATE TABLE calls (
    key TEXT PRIMARY KEY, stage TEXT NOT NULL, teacher TEXT NOT NULL, model TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error')), text TEXT, finish_reason TEXT,
    prompt_tokens INTEGER, completion_tokens INTEGER, cost REAL, error TEXT,
    attempts INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO calls VALUES ('old', 'respond', 'openai', 'm', 'ok', 'blue', 'stop',
                          1, 1, NULL, NULL, 1, '2026-11-01', '2026-11-01');
"""


def test_version_1_stores_keep_working(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SCHEMA)
    with RunStore(path) as store:
        assert store.get("old") is not None and store.get("old").text == "blue"  # type: ignore[union-attr]
        store.put_many([result("new"), result("old", text="overwritten?")])
        assert store.done_keys(["old", "new", "none"]) == {"old", "new"}
        assert store.get("old").text == "blue"  # type: ignore[union-attr]
    with sqlite3.connect(path) as conn:
        version = conn.execute("SELECT value FROM meta WHERE name='schema_version'").fetchone()[0]
    assert version == "1"  # read and written in place, not converted


def test_new_stores_keep_a_rowid_and_a_unique_key(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite"
    with RunStore(path) as store:
        store.put_many([result("a"), result("a", text="again")])
        assert store.count() == 1
    with sqlite3.connect(path) as conn:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name='calls'").fetchone()[0]
        version = conn.execute("SELECT value FROM meta WHERE name='schema_version'").fetchone()[0]
    assert "WITHOUT ROWID" not in sql and "UNIQUE" in sql and version == "2"


def test_a_store_whose_keys_do_not_name_the_endpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SCHEMA.replace("INSERT INTO meta VALUES ('key_scheme', '2');", ""))
    with pytest.raises(HerdsmanError, match="move it aside"):
        RunStore(path)
    with sqlite3.connect(path) as conn:  # nothing was changed or deleted
        assert conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 1
