"""The human-rating database (SQLite, WAL): items, anonymised answers, raters, ratings.

Each rater sees the answers of an item in an order of their own, fixed by a
hash of (rater, item): stable across reloads and restarts (so a rater can
resume), different between raters (so position effects average out), and
never sent to the browser as model names: the page posts answer *slots*, and
the server maps a slot back to the model. A submission names an item (by id,
or by its position, which any id has) and one grade per slot; anything else
(unknown item, slot out of range, grade not A-D) is refused and nothing of it
is written.

Credentials are stored only as SHA-256 hashes: an invite token (a link that
logs its rater in until it expires, :data:`INVITE_TTL` by default) and session
tokens (a browser's cookie, valid for :data:`SESSION_TTL` by default). A name
login only ever creates a new rater; a name already taken is refused
(:class:`NameTaken`). A database written by an older herdsman, with plain
tokens in ``raters.invite`` and ``raters.session``, is migrated on open: the
tokens are hashed into ``invites`` and ``sessions`` and the plain columns are
cleared (with ``secure_delete``, so the old text does not linger in free pages).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import secrets
import sqlite3
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from herdsman.errors import HerdsmanError, SubmissionError
from herdsman.evaluate.answer_sheets import AnswerSheet
from herdsman.evaluate.rubric import GRADES, POINTS

SESSION_TTL = 7 * 24 * 3600.0
"""How long a rater's session (their browser cookie) stays valid: 7 days."""
INVITE_TTL = 7 * 24 * 3600.0
"""How long an invite link stays valid unless ``rate invite --invite-ttl`` says otherwise: 7 days."""
BUSY_TIMEOUT = 30.0
"""Seconds a connection waits for another writer's lock before :class:`DatabaseBusy`."""
NAME_MAX = 80
# Cells a spreadsheet would read as a formula (OWASP's list): exported with a leading quote.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY, position INTEGER NOT NULL, instruction TEXT NOT NULL,
    input TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS items_by_position ON items(position);
CREATE TABLE IF NOT EXISTS answers (
    item_id TEXT NOT NULL REFERENCES items(id), model TEXT NOT NULL, text TEXT NOT NULL,
    PRIMARY KEY (item_id, model)
);
CREATE TABLE IF NOT EXISTS raters (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS invites (
    token_hash TEXT PRIMARY KEY, rater_id INTEGER NOT NULL REFERENCES raters(id),
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY, rater_id INTEGER NOT NULL REFERENCES raters(id),
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS ratings (
    rater_id INTEGER NOT NULL REFERENCES raters(id), item_id TEXT NOT NULL,
    model TEXT NOT NULL, grade TEXT NOT NULL CHECK (grade IN ('A','B','C','D')),
    created_at REAL NOT NULL, PRIMARY KEY (rater_id, item_id, model),
    FOREIGN KEY (item_id, model) REFERENCES answers(item_id, model)
);
"""


class NameTaken(HerdsmanError):
    """A name login for a name that already belongs to a rater (names are not credentials)."""


class DatabaseBusy(HerdsmanError):
    """Another writer held the database lock for longer than the busy timeout."""


def token_hash(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def clean_name(name: str | None) -> str | None:
    """A rater name stripped of surrounding space, or ``None`` if unusable.

    Usable: 1-80 characters after stripping, none of them control or line-break characters.
    """
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX:
        return None
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in name):
        return None
    return name


def _busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


@dataclass(frozen=True)
class Rater:
    """A logged-in rater."""

    id: int
    name: str


@dataclass(frozen=True)
class ShownItem:
    """An item as one rater sees it: answers in that rater's order, no model names."""

    id: str
    instruction: str
    input: str
    answers: list[str]
    position: int = -1


class RatingDB:
    """Access to one rating database file (a new connection per use: safe across threads)."""

    def __init__(self, path: Path, busy_timeout: float = BUSY_TIMEOUT) -> None:
        """Open (and create, or migrate) the database.

        Args:
            path: The SQLite file.
            busy_timeout: Seconds to wait for another writer's lock before
                raising :class:`DatabaseBusy`.
        """
        self.path = path
        self.busy_timeout = busy_timeout
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self.connect() as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(SCHEMA)
                migrated = self._migrate_plain_tokens(db)
            if migrated:
                with self.connect() as db:
                    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except DatabaseBusy:
            raise
        except sqlite3.DatabaseError as exc:
            raise HerdsmanError(
                f"{path}: not a rating database ({exc}); give the SQLite file "
                "`herdsman rate serve` made, or a new path"
            ) from None

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection with foreign keys on, committed on success, rolled back on error.

        Raises:
            DatabaseBusy: Another writer held the lock longer than ``busy_timeout``.
        """
        try:
            db = sqlite3.connect(self.path, timeout=self.busy_timeout)
        except sqlite3.OperationalError as exc:
            raise self._busy_error(exc) from exc
        try:
            db.execute("PRAGMA foreign_keys=ON")
            with db:
                yield db
        except sqlite3.OperationalError as exc:
            raise self._busy_error(exc) from exc
        finally:
            db.close()

    def _busy_error(self, exc: sqlite3.OperationalError) -> Exception:
        if _busy(exc):
            return DatabaseBusy(f"{self.path}: the database is busy (another writer holds it)")
        return exc

    def _migrate_plain_tokens(self, db: sqlite3.Connection) -> int:
        """Hash the plain tokens of an older database into ``invites``/``sessions``."""
        columns = {row[1] for row in db.execute("PRAGMA table_info(raters)")}
        if not {"invite", "session"} <= columns:
            return 0
        rows = db.execute(
            "SELECT id, invite, session FROM raters WHERE invite IS NOT NULL OR session IS NOT NULL"
        ).fetchall()
        if not rows:
            return 0
        db.execute("PRAGMA secure_delete=ON")  # overwrite the plain text, do not just unlink it
        now = time.time()
        for rater_id, invite, session in rows:
            if invite:
                db.execute(
                    "INSERT OR IGNORE INTO invites VALUES (?,?,?)",
                    (token_hash(invite), rater_id, now + INVITE_TTL),
                )
            if session:
                db.execute(
                    "INSERT OR IGNORE INTO sessions VALUES (?,?,?)",
                    (token_hash(session), rater_id, now + SESSION_TTL),
                )
        db.execute("UPDATE raters SET invite = NULL, session = NULL")
        return len(rows)

    # --- content -----------------------------------------------------------------

    def import_sheet(self, sheet: AnswerSheet) -> int:
        """Add items and answers (idempotent: existing ones are kept as they are).

        Returns:
            The number of items added.
        """
        with self.connect() as db:
            start = db.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM items").fetchone()[0]
            before = db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
            db.executemany(
                "INSERT OR IGNORE INTO items (id, position, instruction, input) VALUES (?,?,?,?)",
                [(i.id, start + n, i.instruction, i.input) for n, i in enumerate(sheet.items)],
            )
            db.executemany(
                "INSERT OR IGNORE INTO answers (item_id, model, text) VALUES (?,?,?)",
                [
                    (item_id, model, text)
                    for item_id, by_model in sheet.answers.items()
                    for model, text in by_model.items()
                ],
            )
            after = db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
        return int(after - before)

    def item_count(self) -> int:
        """Items in the database."""
        with self.connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    def item_at(self, position: int) -> str | None:
        """The id of the item at ``position`` (what the rating page posts), if any."""
        with self.connect() as db:
            row = db.execute("SELECT id FROM items WHERE position = ?", (position,)).fetchone()
        return str(row[0]) if row else None

    # --- raters ------------------------------------------------------------------

    def invite(self, name: str, ttl: float = INVITE_TTL) -> str:
        """Create the rater ``name`` if new and issue an invite token (replacing older ones).

        Args:
            name: The rater's name (1-80 characters).
            ttl: Seconds the invite stays valid.

        Returns:
            The token (only its hash is stored: this is the one chance to see it).

        Raises:
            HerdsmanError: An unusable name or a ttl that is not positive.
        """
        cleaned = clean_name(name)
        if cleaned is None:
            raise HerdsmanError(
                f"invite name {name!r}: use 1-{NAME_MAX} characters, no control characters"
            )
        if not ttl > 0:
            raise HerdsmanError(f"invite ttl {ttl!r}: must be more than 0 seconds")
        token = secrets.token_urlsafe(24)
        now = time.time()
        with self.connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO raters (name, created_at) VALUES (?,?)", (cleaned, now)
            )
            (rater_id,) = db.execute("SELECT id FROM raters WHERE name = ?", (cleaned,)).fetchone()
            db.execute("DELETE FROM invites WHERE rater_id = ? OR expires_at <= ?", (rater_id, now))
            db.execute(
                "INSERT INTO invites (token_hash, rater_id, expires_at) VALUES (?,?,?)",
                (token_hash(token), rater_id, now + ttl),
            )
        return token

    def login(
        self, name: str | None = None, invite: str | None = None, ttl: float = SESSION_TTL
    ) -> str | None:
        """Start a session: by name (creating a new rater) or by invite token.

        Args:
            name: A name no rater has yet.
            invite: An invite token that has not expired.
            ttl: Seconds the new session stays valid.

        Returns:
            A session token (only its hash is stored), or ``None`` for an
            unknown or expired invite or an unusable name.

        Raises:
            NameTaken: The name belongs to a rater already (they come back with
                their session cookie or their invite link, never by name).
        """
        session = secrets.token_urlsafe(24)
        now = time.time()
        with self.connect() as db:
            if invite is not None:
                row = db.execute(
                    "SELECT rater_id FROM invites WHERE token_hash = ? AND expires_at > ?",
                    (token_hash(invite), now),
                ).fetchone()
                if row is None:
                    return None
                rater_id = int(row[0])
            else:
                cleaned = clean_name(name)
                if cleaned is None:
                    return None
                try:
                    cur = db.execute(
                        "INSERT INTO raters (name, created_at) VALUES (?,?)", (cleaned, now)
                    )
                except sqlite3.IntegrityError:
                    raise NameTaken(f"the name {cleaned!r} is taken") from None
                rater_id = int(cur.lastrowid or 0)
            db.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
            db.execute(
                "INSERT INTO sessions (token_hash, rater_id, expires_at) VALUES (?,?,?)",
                (token_hash(session), rater_id, now + ttl),
            )
        return session

    def rater_for(self, session: str | None) -> Rater | None:
        """The rater of a session token that has not expired."""
        if not session:
            return None
        with self.connect() as db:
            row = db.execute(
                "SELECT r.id, r.name FROM sessions s JOIN raters r ON r.id = s.rater_id "
                "WHERE s.token_hash = ? AND s.expires_at > ?",
                (token_hash(session), time.time()),
            ).fetchone()
        return Rater(int(row[0]), str(row[1])) if row else None

    def rater_named(self, name: str) -> Rater | None:
        """The rater called ``name`` (for the command line and tests; never a login)."""
        with self.connect() as db:
            row = db.execute("SELECT id, name FROM raters WHERE name = ?", (name,)).fetchone()
        return Rater(int(row[0]), str(row[1])) if row else None

    # --- rating ------------------------------------------------------------------

    @staticmethod
    def order(rater_id: int, item_id: str, models: list[str]) -> list[str]:
        """This rater's fixed order of an item's answers."""
        seed = hashlib.blake2b(f"{rater_id}\x1f{item_id}".encode(), digest_size=8).digest()
        shuffled = sorted(models)
        random.Random(int.from_bytes(seed, "big")).shuffle(shuffled)
        return shuffled

    def _models(self, db: sqlite3.Connection, item_id: str) -> list[str]:
        return [r[0] for r in db.execute("SELECT model FROM answers WHERE item_id = ?", (item_id,))]

    def next_item(self, rater: Rater, raters_per_item: int | None = None) -> ShownItem | None:
        """The first item this rater has not finished (respecting ``raters_per_item``)."""
        query = """
            SELECT i.id, i.instruction, i.input, i.position FROM items i
            WHERE (SELECT COUNT(*) FROM ratings r WHERE r.item_id = i.id AND r.rater_id = :rater)
                < (SELECT COUNT(*) FROM answers a WHERE a.item_id = i.id)
        """
        if raters_per_item:
            query += """
              AND (SELECT COUNT(DISTINCT r.rater_id) FROM ratings r
                   WHERE r.item_id = i.id AND r.rater_id != :rater) < :k
            """
        query += " ORDER BY i.position LIMIT 1"
        with self.connect() as db:
            row = db.execute(query, {"rater": rater.id, "k": raters_per_item or 0}).fetchone()
            if row is None:
                return None
            texts = dict(
                db.execute(
                    "SELECT model, text FROM answers WHERE item_id = ?", (row[0],)
                ).fetchall()
            )
        order = self.order(rater.id, row[0], list(texts))
        return ShownItem(row[0], row[1], row[2], [texts[m] for m in order], int(row[3]))

    def submit(self, rater: Rater, item_id: str, grades: dict[int, str]) -> int:
        """Record one grade per answer slot of an item (all or nothing).

        Raises:
            SubmissionError: Unknown item, a slot missing or out of range, or a grade not A-D.
        """
        with self.connect() as db:
            models = self._models(db, item_id)
            if not models:
                raise SubmissionError(f"unknown item {item_id!r}")
            order = self.order(rater.id, item_id, models)
            if sorted(grades) != list(range(len(order))):
                raise SubmissionError(
                    f"item {item_id!r} has {len(order)} answers: grade each of slots 0..{len(order) - 1}"
                )
            bad = {g for g in grades.values() if g not in GRADES}
            if bad:
                raise SubmissionError(f"grades must be A, B, C or D (got {sorted(bad)[0]!r})")
            now = time.time()
            db.executemany(
                "INSERT INTO ratings (rater_id, item_id, model, grade, created_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT(rater_id, item_id, model) DO UPDATE SET grade = excluded.grade, "
                "created_at = excluded.created_at",
                [(rater.id, item_id, order[slot], grade, now) for slot, grade in grades.items()],
            )
        return len(grades)

    def progress(self, rater: Rater) -> tuple[int, int]:
        """(items this rater finished, items in all)."""
        with self.connect() as db:
            done = db.execute(
                """SELECT COUNT(*) FROM items i WHERE
                   (SELECT COUNT(*) FROM ratings r WHERE r.item_id = i.id AND r.rater_id = ?)
                   >= (SELECT COUNT(*) FROM answers a WHERE a.item_id = i.id)""",
                (rater.id,),
            ).fetchone()[0]
            total = db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
        return int(done), int(total)

    # --- results -----------------------------------------------------------------

    def ratings(self) -> list[dict[str, Any]]:
        """Every rating with rater name, item, model and grade."""
        with self.connect() as db:
            rows = db.execute(
                """SELECT r.name, t.item_id, i.instruction, t.model, t.grade, t.created_at
                   FROM ratings t JOIN raters r ON r.id = t.rater_id JOIN items i ON i.id = t.item_id
                   ORDER BY i.position, r.name, t.model"""
            ).fetchall()
        keys = ("rater", "item", "instruction", "model", "grade", "created_at")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def grade_counts(self) -> dict[str, dict[str, int]]:
        """Per model: counts of A-D over all raters."""
        out: dict[str, dict[str, int]] = {}
        for row in self.ratings():
            out.setdefault(row["model"], dict.fromkeys(GRADES, 0))[row["grade"]] += 1
        return out

    def export(self, fmt: str) -> str:
        """All ratings as ``csv`` or ``json`` text.

        In CSV, a text cell that a spreadsheet would run as a formula (one
        starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return)
        is written with a leading ``'``; JSON keeps every value as it is.
        """
        rows = self.ratings()
        if fmt == "json":
            return json.dumps(rows, ensure_ascii=False, indent=1)
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer, fieldnames=["rater", "item", "instruction", "model", "grade", "created_at"]
        )
        writer.writeheader()
        writer.writerows({key: _csv_cell(value) for key, value in row.items()} for row in rows)
        return buffer.getvalue()


def agreement(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Krippendorff's alpha (ordinal, A > B > C > D) over (item, model) units.

    Returns:
        ``{"alpha", "raters", "units"}``; alpha is ``None`` with fewer than two
        raters on any unit or no variation at all.
    """
    import krippendorff
    import numpy as np

    raters = sorted({r["rater"] for r in rows})
    units = sorted({(r["item"], r["model"]) for r in rows})
    matrix = np.full((len(raters), len(units)), np.nan)
    rater_index = {name: n for n, name in enumerate(raters)}
    unit_index = {unit: n for n, unit in enumerate(units)}
    for r in rows:
        matrix[rater_index[r["rater"]], unit_index[(r["item"], r["model"])]] = POINTS[r["grade"]]
    shared = int(np.sum(np.sum(~np.isnan(matrix), axis=0) >= 2))
    alpha = None
    if len(raters) >= 2 and shared and len(np.unique(matrix[~np.isnan(matrix)])) > 1:
        alpha = float(krippendorff.alpha(reliability_data=matrix, level_of_measurement="ordinal"))
    return {"alpha": alpha, "raters": len(raters), "units": len(units), "shared_units": shared}
