"""OpenAI Batch API: the same chat requests at half the price, answered within 24 hours.

Submit, poll, collect, resume:

1. the pending requests (those without a finished result in the run store) are
   written as Batch API JSONL, one line per request with the call key as
   ``custom_id``, in files of at most ``max_requests`` lines and ``max_bytes``;
2. each file is uploaded (``POST /files``, purpose ``batch``); the uploaded
   file's id and its call keys are appended to the journal and fsynced
   *before* the batch is created (``POST /batches``, endpoint
   ``/v1/chat/completions``), and the batch id is journaled right after;
3. batches are polled (``GET /batches/ID``) until they end; the output and
   error files are downloaded and every line goes to the sink (so to the run
   store) as an ordinary completion or failure;
4. after a crash, the same command reads the journal: requests that belong to
   a journaled upload are not submitted again. An upload whose batch id was
   not journaled (the crash fell between creating the batch and recording it)
   is looked up among the account's batches by its input file id, so a batch
   that is already running (and billed) is collected, never created twice; if
   no batch was made from it, one is created from the same upload. Requests
   the API never answered (expired, cancelled, missing from the output) are
   failures, retried by the next run.

The call key does not change with the transport, so answers fetched through
the Batch API and through ordinary calls are interchangeable in the store.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from herdsman.errors import TeacherFatalError
from herdsman.io.atomic import fsync_dir
from herdsman.teachers.base import ChatRequest, Completion, ResultSink, Teacher
from herdsman.teachers.identity import endpoint_identity
from herdsman.teachers.openai_http import OpenAITeacher, _Retry, parse_chat_response
from herdsman.teachers.pricing import PriceTable

TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
BATCH_DISCOUNT = 0.5  # the Batch API bills half the synchronous price


@dataclass(frozen=True)
class BatchSettings:
    """Where and how batches are submitted and watched."""

    base_url: str = "https://api.openai.com/v1"
    journal: Path = Path(".herdsman/batches.jsonl")
    max_requests: int = 50_000  # the API's per-batch limit
    max_bytes: int = 190_000_000  # under the API's 200 MB per input file
    poll_s: float = 30.0
    timeout_s: float = 120.0
    completion_window: str = "24h"


class BatchJournal:
    """Append-only, fsynced record of uploads, the batches made from them and their keys.

    Entries are keyed by the uploaded input file's id; later lines about the
    same upload add to it (``batch_id``, ``collected``).
    """

    def __init__(self, path: Path) -> None:
        """Open (create) the journal."""
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def entries(self) -> list[dict[str, Any]]:
        """Every upload recorded, in order (later lines about the same upload win)."""
        found: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            for line in self.path.read_bytes().splitlines():
                try:
                    entry = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # a line cut by a crash: nothing was created from it yet
                if not isinstance(entry, dict):
                    continue
                # Journals written before uploads were journaled name the batch only.
                ident = entry.get("input_file_id") or entry.get("batch_id")
                if isinstance(ident, str):
                    found[ident] = {**found.get(ident, {}), **entry}
        return list(found.values())

    def record(self, entry: dict[str, Any]) -> None:
        """Append one entry and fsync it: it must survive a power cut before the next step."""
        new_file = not self.path.exists()
        with self.path.open("ab") as handle:
            handle.write(orjson.dumps(entry) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        if new_file:
            fsync_dir(self.path.parent)


class OpenAIBatchTeacher(Teacher):
    """The ``openai`` backend over the Batch API (same call keys as ordinary calls).

    Args:
        model: Model name.
        api_key: Bearer token (``None`` for servers without auth).
        settings: Endpoint, journal, limits and polling.
        prices: Price table; costs are billed at the batch discount.
        sleep: Waits between polls (tests pass a short one).
    """

    backend = "openai"

    def __init__(
        self,
        model: str,
        api_key: str | None,
        settings: BatchSettings | None = None,
        prices: PriceTable | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.model = model
        self.settings = settings or BatchSettings()
        # The same endpoint answers through the Batch API and synchronously: the same keys.
        self.endpoint = endpoint_identity(self.settings.base_url)
        self.prices = prices or PriceTable()
        self._payload = OpenAITeacher(model, None).payload
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._sleep = sleep
        self.journal = BatchJournal(self.settings.journal)

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIBatchTeacher(model={self.model!r}, url={self.settings.base_url!r})"

    # -- HTTP ---------------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.settings.base_url.rstrip("/") + "/",
            headers=self._headers,
            timeout=self.settings.timeout_s,
        )

    @staticmethod
    def _check(response: httpx.Response, what: str) -> Any:
        if response.status_code in (401, 403):
            raise TeacherFatalError(f"Batch API: {what}: authentication failed")
        if response.status_code >= 400:
            raise TeacherFatalError(
                f"Batch API: {what}: HTTP {response.status_code} {response.text[:200]}"
            )
        return (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else response.content
        )

    # -- submit -------------------------------------------------------------------------

    def _chunks(self, requests: list[ChatRequest]) -> Iterable[list[tuple[ChatRequest, bytes]]]:
        chunk: list[tuple[ChatRequest, bytes]] = []
        size = 0
        for request in requests:
            line = orjson.dumps(
                {
                    "custom_id": request.key,
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": self._payload(request),
                }
            )
            if chunk and (
                len(chunk) >= self.settings.max_requests
                or size + len(line) + 1 > self.settings.max_bytes
            ):
                yield chunk
                chunk, size = [], 0
            chunk.append((request, line))
            size += len(line) + 1
        if chunk:
            yield chunk

    def submit(self, client: httpx.Client, chunk: list[tuple[ChatRequest, bytes]]) -> str:
        """Upload one input file, journal it, create its batch, journal that; return the batch id."""
        content = b"\n".join(line for _, line in chunk) + b"\n"
        uploaded = self._check(
            client.post(
                "files",
                data={"purpose": "batch"},
                files={"file": ("herdsman-batch.jsonl", content, "application/jsonl")},
            ),
            "upload",
        )
        file_id = str(uploaded["id"])
        self.journal.record(
            {
                "input_file_id": file_id,
                "keys": [request.key for request, _ in chunk],
                "uploaded_at": time.time(),
            }
        )
        return self.create_batch(client, file_id)

    def create_batch(self, client: httpx.Client, file_id: str) -> str:
        """Create the batch of an uploaded (and journaled) file and journal its id."""
        batch = self._check(
            client.post(
                "batches",
                json={
                    "input_file_id": file_id,
                    "endpoint": "/v1/chat/completions",
                    "completion_window": self.settings.completion_window,
                    "metadata": {"source": "herdsman"},
                },
            ),
            "create batch",
        )
        self.journal.record(
            {"input_file_id": file_id, "batch_id": batch["id"], "submitted_at": time.time()}
        )
        return str(batch["id"])

    def find_batch(self, client: httpx.Client, file_id: str) -> str | None:
        """The id of a batch already created from ``file_id`` (``GET /batches``, every page)."""
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100}
            if after:
                params["after"] = after
            page = self._check(client.get("batches", params=params), "list batches")
            data = page.get("data") or [] if isinstance(page, dict) else []
            for batch in data:
                if batch.get("input_file_id") == file_id:
                    return str(batch["id"])
            if not (isinstance(page, dict) and page.get("has_more") and data):
                return None
            after = str(data[-1]["id"])

    def batch_of(self, client: httpx.Client, entry: dict[str, Any]) -> str:
        """The batch of a journaled upload: journaled, found on the server, or created now."""
        if entry.get("batch_id"):
            return str(entry["batch_id"])
        file_id = str(entry["input_file_id"])
        found = self.find_batch(client, file_id)
        if found is None:
            return self.create_batch(client, file_id)
        self.journal.record({"input_file_id": file_id, "batch_id": found, "found_at": time.time()})
        return found

    # -- collect ------------------------------------------------------------------------

    def wait(self, client: httpx.Client, batch_id: str) -> dict[str, Any]:
        """Poll a batch until it ends; return its final state."""
        while True:
            state: dict[str, Any] = self._check(client.get(f"batches/{batch_id}"), "poll")
            if state.get("status") in TERMINAL:
                return state
            self._sleep(self.settings.poll_s)

    def _lines(self, client: httpx.Client, file_id: str | None) -> list[dict[str, Any]]:
        if not file_id:
            return []
        content = self._check(client.get(f"files/{file_id}/content"), "download")
        raw = content if isinstance(content, bytes) else orjson.dumps(content)
        return [orjson.loads(line) for line in raw.splitlines() if line.strip()]

    def completion(
        self, line: dict[str, Any], choices: tuple[str, ...] | None = None
    ) -> Completion:
        """One output or error line as a completion (cost at the batch price)."""
        response = line.get("response") or {}
        error = line.get("error")
        status = response.get("status_code")
        if error or status != 200:
            detail = (error or {}).get("message") if isinstance(error, dict) else None
            body_error = (response.get("body") or {}).get("error") if response else None
            if isinstance(body_error, dict):
                detail = detail or body_error.get("message")
            return Completion(error=f"batch: HTTP {status}: {detail or 'failed'}")
        try:
            done = parse_chat_response(orjson.dumps(response.get("body")), choices)
        except _Retry as exc:
            return Completion(error=f"batch: {exc}")
        cost = self.prices.cost(self.model, done.prompt_tokens, done.completion_tokens)
        done.cost = cost * BATCH_DISCOUNT if cost is not None else None
        return done

    def collect(
        self,
        client: httpx.Client,
        batch_id: str,
        requests: dict[str, ChatRequest],
        sink: ResultSink,
    ) -> None:
        """Wait for a batch and hand every one of ``requests`` in it to the sink."""
        state = self.wait(client, batch_id)
        answered: set[str] = set()
        for file_key in ("output_file_id", "error_file_id"):
            for line in self._lines(client, state.get(file_key)):
                key = line.get("custom_id")
                if key in requests and key not in answered:
                    answered.add(key)
                    sink.put(requests[key], self.completion(line, requests[key].choices))
            sink.flush()
        reason = f"batch {batch_id} {state.get('status')} without an answer for it"
        for key, request in requests.items():
            if key not in answered:
                sink.put(request, Completion(error=reason))
        sink.flush()

    # -- the Teacher interface ----------------------------------------------------------

    def run(self, requests: Iterable[ChatRequest], sink: ResultSink) -> None:
        """Collect live batches from the journal, submit the rest, collect those."""
        pending = {r.key: r for r in requests}
        if not pending:
            return
        with self._client() as client:
            for entry in self.journal.entries():
                if entry.get("collected"):
                    continue
                mine = {k: pending.pop(k) for k in entry.get("keys", []) if k in pending}
                batch_id = self.batch_of(client, entry) if mine or entry.get("batch_id") else None
                if mine and batch_id:
                    self.collect(client, batch_id, mine, sink)
                done = {k: v for k, v in entry.items() if k in ("input_file_id", "batch_id")}
                self.journal.record({**done, "collected": True})
            submitted = [
                (self.submit(client, chunk), {r.key: r for r, _ in chunk})
                for chunk in self._chunks(list(pending.values()))
            ]
            upload_of = {
                e["batch_id"]: e["input_file_id"]
                for e in self.journal.entries()
                if e.get("batch_id") and e.get("input_file_id")
            }
            for batch_id, chunk_requests in submitted:
                self.collect(client, batch_id, chunk_requests, sink)
                self.journal.record(
                    {"input_file_id": upload_of[batch_id], "batch_id": batch_id, "collected": True}
                )
