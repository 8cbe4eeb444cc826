"""The teacher's token-level answer: its token ids and top-k log-probabilities, compactly.

A teacher that answers with ``logprobs=K`` returns, for every answer token,
the token's id and the K most likely token ids with their log-probabilities
(the distribution the token was drawn from). :class:`TeacherTokens` holds one
answer's: ``token_ids`` (int32, one per answer token, the end-of-sequence
token included when the answer stopped), ``top_ids`` (int32, tokens x K) and
``top_logprobs`` (float16, tokens x K). Position ``t`` of ``top_*`` is the
distribution that produced ``token_ids[t]``: students train on these ids
exactly, never on a re-tokenisation of the text, so positions line up.

Stored as three little-endian byte strings (4 + 6K bytes per answer token) in
the run store, keyed by call key, and exported beside the dataset as Parquet
(``dataset/logprobs/SPLIT.parquet``: ``call_key``, ``k``, ``token_ids``,
``top_ids``, ``top_logprobs``) with ``meta.json`` naming the tokenizer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from herdsman.errors import InputError

#: Bytes one answer token costs at top-k K: its id, K ids and K float16 log-probabilities.
ID_BYTES, LOGPROB_BYTES = 4, 2
COLUMNS = ("call_key", "k", "token_ids", "top_ids", "top_logprobs")


def bytes_per_token(k: int) -> int:
    """Stored bytes per answer token at top-k ``k``."""
    return ID_BYTES + k * (ID_BYTES + LOGPROB_BYTES)


@dataclass(frozen=True)
class TeacherTokens:
    """One answer's token ids and top-k log-probabilities (see the module docstring)."""

    token_ids: np.ndarray
    top_ids: np.ndarray
    top_logprobs: np.ndarray

    def __post_init__(self) -> None:
        n = self.token_ids.shape[0]
        if self.top_ids.ndim != 2 or self.top_ids.shape != self.top_logprobs.shape:
            raise ValueError("top_ids and top_logprobs must be (tokens, k) arrays of one shape")
        if self.top_ids.shape[0] != n:
            raise ValueError(f"{n} tokens but {self.top_ids.shape[0]} top-k rows")

    @classmethod
    def build(
        cls,
        token_ids: Iterable[int],
        top: Iterable[Iterable[tuple[int, float]]],
        k: int,
    ) -> TeacherTokens:
        """From per-position ``(id, logprob)`` lists (best first); short rows are padded.

        A position with fewer than ``k`` candidates (an API that returned fewer) is
        padded with id ``-1`` and log-probability ``-inf``, which carry no mass.
        """
        ids = np.asarray(list(token_ids), dtype=np.int32)
        rows = [list(r)[:k] for r in top]
        top_ids = np.full((len(rows), k), -1, dtype=np.int32)
        top_lp = np.full((len(rows), k), -np.inf, dtype=np.float16)
        for t, row in enumerate(rows):
            for j, (token, logprob) in enumerate(row):
                top_ids[t, j] = token
                top_lp[t, j] = logprob
        return cls(ids, top_ids, top_lp)

    @property
    def k(self) -> int:
        """Candidates per position."""
        return int(self.top_ids.shape[1])

    def __len__(self) -> int:
        return int(self.token_ids.shape[0])

    def to_bytes(self) -> tuple[bytes, bytes, bytes]:
        """``(token_ids, top_ids, top_logprobs)`` as little-endian bytes."""
        return (
            self.token_ids.astype("<i4").tobytes(),
            self.top_ids.astype("<i4").tobytes(),
            self.top_logprobs.astype("<f2").tobytes(),
        )

    @classmethod
    def from_bytes(
        cls, k: int, token_ids: bytes, top_ids: bytes, top_logprobs: bytes
    ) -> TeacherTokens:
        """The inverse of :meth:`to_bytes`.

        Raises:
            ValueError: Byte strings of inconsistent lengths.
        """
        ids = np.frombuffer(token_ids, dtype="<i4").astype(np.int32)
        n = ids.shape[0]
        top = np.frombuffer(top_ids, dtype="<i4").astype(np.int32)
        lp = np.frombuffer(top_logprobs, dtype="<f2").astype(np.float16)
        if top.size != n * k or lp.size != n * k:
            raise ValueError(f"{n} tokens at k={k} need {n * k} top-k entries, got {top.size}")
        return cls(ids, top.reshape(n, k), lp.reshape(n, k))

    def equals(self, other: TeacherTokens) -> bool:
        """Exactly the same ids and the same float16 values (stored values, not recomputed)."""
        return (
            np.array_equal(self.token_ids, other.token_ids)
            and np.array_equal(self.top_ids, other.top_ids)
            and np.array_equal(self.top_logprobs, other.top_logprobs, equal_nan=True)
        )


def write_logprobs(path: Path, rows: Iterable[tuple[str, TeacherTokens]]) -> int:
    """Write ``(call_key, tokens)`` rows to a Parquet file (atomically, batch by batch).

    Returns:
        Rows written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from herdsman.io.atomic import atomic_output

    schema = pa.schema(
        [
            ("call_key", pa.string()),
            ("k", pa.int32()),
            ("token_ids", pa.binary()),
            ("top_ids", pa.binary()),
            ("top_logprobs", pa.binary()),
        ]
    )
    written = 0
    with atomic_output(path) as out, pq.ParquetWriter(out, schema) as writer:
        batch: dict[str, list[object]] = {name: [] for name in COLUMNS}
        for key, tokens in rows:
            a, b, c = tokens.to_bytes()
            for name, value in zip(COLUMNS, (key, tokens.k, a, b, c), strict=True):
                batch[name].append(value)
            written += 1
            if len(batch["call_key"]) >= 4096:
                writer.write_table(pa.table(batch, schema=schema))
                batch = {name: [] for name in COLUMNS}
        writer.write_table(pa.table(batch, schema=schema))
    return written


def iter_logprobs(path: Path) -> Iterator[tuple[str, TeacherTokens]]:
    """``(call_key, tokens)`` rows of a file :func:`write_logprobs` wrote.

    Raises:
        InputError: Not such a file, or a row whose byte strings do not fit together.
    """
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
    except (OSError, ValueError) as exc:
        raise InputError(
            str(path), None, f"cannot read teacher log-probabilities ({exc})"
        ) from None
    missing = set(COLUMNS) - set(handle.schema_arrow.names)
    if missing:
        raise InputError(str(path), None, f"not a log-probability file (no {sorted(missing)[0]})")
    row = 0
    for batch in handle.iter_batches(columns=list(COLUMNS)):
        data = batch.to_pydict()
        for key, k, a, b, c in zip(*(data[name] for name in COLUMNS), strict=True):
            row += 1
            try:
                yield key, TeacherTokens.from_bytes(int(k), a, b, c)
            except ValueError as exc:
                raise InputError(str(path), row, str(exc)) from None


def read_logprobs(path: Path) -> dict[str, TeacherTokens]:
    """Every row of a log-probability file, by call key."""
    return dict(iter_logprobs(path))


#: The file beside the Parquet splits that names the tokenizer the ids belong to.
META = "meta.json"


def vocab_fingerprint(vocab: dict[str, int]) -> str:
    """A short hash of a tokenizer's vocabulary (token -> id): equal iff ids mean the same."""
    import hashlib

    digest = hashlib.sha256()
    for token, index in sorted(vocab.items(), key=lambda item: item[1]):
        digest.update(f"{index}\0{token}\0".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class LogprobsMeta:
    """What ``dataset/logprobs/meta.json`` says: whose token ids these are, and K."""

    tokenizer: str  #: the teacher model (name or folder) whose tokenizer made the ids
    vocab: str  #: :func:`vocab_fingerprint` of that tokenizer
    k: int
    backend: str

    @classmethod
    def read(cls, folder: Path) -> LogprobsMeta:
        """The meta file of a log-probability folder.

        Raises:
            InputError: Missing or malformed.
        """
        import json

        path = folder / META
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                str(data["tokenizer"]), str(data["vocab"]), int(data["k"]), str(data["backend"])
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(
                str(path), None, f"unreadable log-probability metadata ({exc})"
            ) from None

    def write(self, folder: Path) -> None:
        """Write ``meta.json`` into ``folder`` (atomically)."""
        import json
        from dataclasses import asdict

        from herdsman.io.atomic import write_text_atomic

        write_text_atomic(folder / META, json.dumps(asdict(self), indent=1) + "\n")
