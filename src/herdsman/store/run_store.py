"""The run store: durable, idempotent record of every teacher call (SQLite, WAL).

A call is keyed by what determines its answer: teacher backend, model,
messages and sampling parameters (:func:`call_key`). A result counts only once
its transaction has committed; a finished (``ok``) result is never
overwritten, so re-running a stage skips it and no duplicate can appear, even
after ``kill -9``. Failed calls are stored with their reason and retried on
the next run.

Durability: WAL with ``synchronous=NORMAL`` survives any process crash
(``kill -9`` included); ``durability="full"`` (``synchronous=FULL``) also
survives power loss at some cost in write speed.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from herdsman.errors import HerdsmanError
from herdsman.io.logprobs import TeacherTokens
from herdsman.records import utc_now

SCHEMA_VERSION = 2
#: Versions this herdsman reads and writes: 1 keyed the table by ``key`` (WITHOUT ROWID);
#: 2 keeps a rowid and a UNIQUE index on ``key``. Same columns, same SQL for both.
READABLE_VERSIONS = (1, 2)
#: How call keys are made. 2 names the endpoint (base URL, or model folder and weights'
#: fingerprint); keys of scheme 1 did not, so their answers cannot be told apart by source.
KEY_SCHEME = "2"
_IN_CHUNK = 500  # keys per "IN (...)" query, well under SQLite's variable limit

# Rows are ~1 KB (the answer text): in a WITHOUT ROWID table they live in the key's B-tree,
# so every insert at a random key moves big rows around. A rowid table with a separate
# index of keys keeps inserts fast (benchmarks/bench_store.py compares both layouts).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS calls (
    id                INTEGER PRIMARY KEY,
    key               TEXT NOT NULL UNIQUE,
    stage             TEXT NOT NULL,
    teacher           TEXT NOT NULL,
    model             TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('ok', 'error')),
    text              TEXT,
    finish_reason     TEXT,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    cost              REAL,
    error             TEXT,
    attempts          INTEGER NOT NULL DEFAULT 1,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS logprobs (
    key           TEXT PRIMARY KEY,
    k             INTEGER NOT NULL,
    token_ids     BLOB NOT NULL,
    top_ids       BLOB NOT NULL,
    top_logprobs  BLOB NOT NULL
);
"""

# A call's log-probabilities are written in the transaction that writes its answer, and
# never replaced: one answer, one set of log-probabilities, exactly once.
_LOGPROBS = """
INSERT INTO logprobs (key, k, token_ids, top_ids, top_logprobs) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (key) DO NOTHING
"""

_UPSERT = """
INSERT INTO calls (key, stage, teacher, model, status, text, finish_reason, prompt_tokens,
                   completion_tokens, cost, error, attempts, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
    status = excluded.status, text = excluded.text, finish_reason = excluded.finish_reason,
    prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens,
    cost = excluded.cost, error = excluded.error,
    attempts = calls.attempts + excluded.attempts, updated_at = excluded.updated_at
WHERE calls.status != 'ok'
"""

_COLUMNS = (
    "key, stage, teacher, model, status, text, finish_reason, prompt_tokens, "
    "completion_tokens, cost, error, attempts, created_at, updated_at"
)


def call_key(
    teacher: str,
    model: str,
    messages: Sequence[dict[str, str]],
    sampling: dict[str, Any],
    extra: dict[str, Any] | None = None,
    *,
    endpoint: str,
) -> str:
    """Derive the key of a teacher call from everything that determines its answer.

    Args:
        teacher: Backend name (``openai``, ``local``, ...).
        model: Model name or resolved path.
        endpoint: Where the call goes (:attr:`Teacher.endpoint`): the normalised
            base URL, or a model folder with its weights' fingerprint. Answers
            from a stub or another server never stand in for this one's.
        messages: Chat messages (role and content).
        sampling: Sampling parameters.
        extra: Anything else that must tell calls apart (e.g. a sample index
            when the same prompt is deliberately asked several times).

    Returns:
        A hex SHA-256 digest of a canonical JSON encoding.
    """
    payload = {
        "teacher": teacher,
        "model": model,
        "endpoint": endpoint,
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "sampling": {k: v for k, v in sorted(sampling.items()) if v is not None},
    }
    if extra:
        payload["extra"] = extra
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True)
class CallResult:
    """One teacher call's outcome as stored.

    Attributes:
        key: The call key.
        stage: The stage that made the call (``respond``, ``generate``...).
        teacher: Backend name.
        model: Model name.
        status: ``ok`` or ``error``.
        text: The answer (``ok`` only).
        finish_reason: ``stop``, ``length`` or what the backend said.
        prompt_tokens: Prompt tokens used, when known.
        completion_tokens: Completion tokens used, when known.
        cost: Money spent on this call (USD), when a price is known.
        error: Why it failed (``error`` only).
        attempts: Attempts made, summed over runs.
    """

    key: str
    stage: str
    teacher: str
    model: str
    status: Literal["ok", "error"]
    text: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None
    error: str | None = None
    attempts: int = 1
    created_at: str = ""
    updated_at: str = ""
    #: The answer's token ids and top-k log-probabilities (written with the answer; not
    #: read back by :meth:`RunStore.get_many`: see :meth:`RunStore.get_tokens`).
    tokens: TeacherTokens | None = None

    @property
    def ok(self) -> bool:
        """Whether the call finished with an answer."""
        return self.status == "ok"


@dataclass(frozen=True)
class UsageTotals:
    """Totals over stored calls."""

    ok: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cost: float


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class RunStore:
    """A crash-safe store of teacher calls in one SQLite file.

    Safe to share between threads of one process (a lock serialises use of the
    connection) and between processes (WAL, busy timeout).

    Args:
        path: The SQLite file; its folder is created.
        durability: ``normal`` (survives process crashes) or ``full`` (also power loss).
    """

    def __init__(self, path: str | Path, durability: Literal["normal", "full"] = "normal") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=60.0, check_same_thread=False, isolation_level=None
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
            self._conn.execute("PRAGMA busy_timeout=60000")
            self._conn.executescript(_SCHEMA)
            self._check_schema()
        except sqlite3.DatabaseError as exc:
            raise HerdsmanError(f"{self.path}: not a usable herdsman run store ({exc})") from None

    def _check_schema(self) -> None:
        row = self._conn.execute("SELECT value FROM meta WHERE name='schema_version'").fetchone()
        if row is None:
            self._conn.execute(
                "INSERT OR IGNORE INTO meta (name, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        elif int(row[0]) not in READABLE_VERSIONS:
            raise HerdsmanError(
                f"{self.path}: run store schema {row[0]}, this herdsman reads "
                f"{', '.join(map(str, READABLE_VERSIONS))}"
            )
        scheme = self._conn.execute("SELECT value FROM meta WHERE name='key_scheme'").fetchone()
        if scheme is None:
            if self._conn.execute("SELECT 1 FROM calls LIMIT 1").fetchone() is not None:
                raise HerdsmanError(
                    f"{self.path}: written by an earlier herdsman whose call keys did not name "
                    "the endpoint, so its answers cannot be matched to a teacher; move it aside "
                    "(nothing in it is deleted) and run again to start a new store"
                )
            self._conn.execute(
                "INSERT OR IGNORE INTO meta (name, value) VALUES ('key_scheme', ?)", (KEY_SCHEME,)
            )
        elif scheme[0] != KEY_SCHEME:
            raise HerdsmanError(
                f"{self.path}: call keys of scheme {scheme[0]}, this herdsman makes {KEY_SCHEME}"
            )

    def close(self) -> None:
        """Close the connection (committed results are already on disk)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def put_many(self, results: Iterable[CallResult]) -> int:
        """Store results in one transaction; an ``ok`` already stored is never replaced.

        Returns:
            The number of rows given.
        """
        results = list(results)
        now = utc_now()
        rows = [
            (
                r.key, r.stage, r.teacher, r.model, r.status, r.text, r.finish_reason,
                r.prompt_tokens, r.completion_tokens, r.cost, r.error, r.attempts,
                r.created_at or now, now,
            )
            for r in results
        ]  # fmt: skip
        if not rows:
            return 0
        tokens = [
            (r.key, r.tokens.k, *r.tokens.to_bytes())
            for r in results
            if r.tokens is not None and r.status == "ok"
        ]
        with self._lock:
            if len(rows) == 1 and not tokens:  # one statement is its own transaction
                self._conn.execute(_UPSERT, rows[0])
                return 1
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(_UPSERT, rows)
                if tokens:
                    self._conn.executemany(_LOGPROBS, tokens)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return len(rows)

    def _select_in(self, sql: str, keys: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        """Rows of ``sql`` (with one ``{marks}`` placeholder) for the keys, a chunk at a time."""
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for chunk in _chunks(unique, _IN_CHUNK):
                yield from self._conn.execute(
                    sql.format(marks=",".join("?" * len(chunk))), tuple(chunk)
                )

    def get_many(self, keys: Sequence[str]) -> dict[str, CallResult]:
        """Return the stored results (ok or error) for the given keys."""
        rows = self._select_in(f"SELECT {_COLUMNS} FROM calls WHERE key IN ({{marks}})", keys)
        return {row[0]: CallResult(*row) for row in rows}

    def get_tokens(self, keys: Sequence[str]) -> dict[str, TeacherTokens]:
        """The stored token ids and top-k log-probabilities of the given calls (those that have)."""
        rows = self._select_in(
            "SELECT key, k, token_ids, top_ids, top_logprobs FROM logprobs WHERE key IN ({marks})",
            keys,
        )
        return {row[0]: TeacherTokens.from_bytes(int(row[1]), *row[2:]) for row in rows}

    def done_keys(self, keys: Sequence[str]) -> set[str]:
        """Return which of ``keys`` have an ``ok`` result."""
        rows = self._select_in("SELECT key FROM calls WHERE status='ok' AND key IN ({marks})", keys)
        return {row[0] for row in rows}

    def get(self, key: str) -> CallResult | None:
        """Return one stored result, or ``None``."""
        return self.get_many([key]).get(key)

    def totals(self, stage: str | None = None) -> UsageTotals:
        """Sum calls, tokens and cost, for one stage or all."""
        where, args = ("WHERE stage = ?", (stage,)) if stage else ("", ())
        with self._lock:
            row = self._conn.execute(
                "SELECT COALESCE(SUM(status='ok'),0), COALESCE(SUM(status='error'),0), "
                "COALESCE(SUM(prompt_tokens),0), COALESCE(SUM(completion_tokens),0), "
                f"COALESCE(SUM(cost),0) FROM calls {where}",
                args,
            ).fetchone()
        return UsageTotals(int(row[0]), int(row[1]), int(row[2]), int(row[3]), float(row[4]))

    def count(self) -> int:
        """Number of stored calls."""
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0])
