"""Teacher backend for any OpenAI-compatible chat-completions endpoint.

Built on aiohttp rather than the ``openai`` client or httpx: against one
loopback server at high concurrency aiohttp sustained many times httpx's
AsyncClient request rate (docs/benchmarks.md), and a million calls need the
headroom. ``benchmarks/bench_respond_openai.py`` measures the whole path.

Behaviour:
- bounded concurrency; a per-request timeout;
- retries with exponential backoff and full jitter on connection errors,
  timeouts, 408/409/429/5xx, malformed JSON and empty choices, honouring
  ``Retry-After`` on 429/503;
- optional requests-per-minute and tokens-per-minute limits;
- 401/403 (bad key) and 404 (unknown model or path) stop the run at once;
- ``finish_reason: length`` is kept and reported, never taken for complete;
- the API key is sent in a header only: never logged, stored or put in errors.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiohttp
import orjson
from pydantic import Field, model_validator

from herdsman.errors import HerdsmanError, TeacherFatalError
from herdsman.io.logprobs import TeacherTokens
from herdsman.teachers import OPENAI_DEFAULT_URL
from herdsman.teachers.base import (
    CHOICE,
    ChatRequest,
    Completion,
    ResultSink,
    Teacher,
    choice_distribution,
    choice_mass,
)
from herdsman.teachers.identity import endpoint_identity
from herdsman.teachers.options import TeacherOptions, cli, key_may_go_to
from herdsman.teachers.pricing import PriceTable
from herdsman.teachers.ratelimit import RateBucket
from herdsman.teachers.token_map import TokenMap

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
FATAL_STATUSES = {401: "authentication failed", 403: "access denied", 404: "not found"}


#: The chat-completions API's cap on ``top_logprobs``.
OPENAI_MAX_LOGPROBS = 20


@dataclass(frozen=True)
class OpenAISettings:
    """Connection and retry settings of the OpenAI-compatible backend."""

    base_url: str = "https://api.openai.com/v1"
    concurrency: int = 16
    timeout_s: float = 120.0
    max_retries: int = 6
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    retry_after_max_s: float = 600.0
    rpm: float | None = None
    tpm: float | None = None


class _Retry(Exception):
    """An attempt failed in a way worth retrying."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _Fail(Exception):
    """An attempt failed in a way that retrying will not fix (for this call)."""


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _choice_logprobs(choice: dict[str, Any], choices: tuple[str, ...]) -> dict[str, float] | None:
    """The first token's probability of each choice, from ``top_logprobs`` (``None``: absent)."""
    logprobs = choice.get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(content, list) or not content or not isinstance(content[0], dict):
        return None
    top = content[0].get("top_logprobs")
    if not isinstance(top, list) or not top:
        return None
    return choice_mass(
        (
            (str(e.get("token", "")), float(e["logprob"]))
            for e in top
            if isinstance(e, dict) and isinstance(e.get("logprob"), int | float)
        ),
        choices,
    )


def tokens_from_content(
    choice: dict[str, Any], k: int, token_map: TokenMap
) -> TeacherTokens | None:
    """The answer's token ids and top-``k`` from a choice's ``logprobs.content`` (``None``: absent).

    Raises:
        TeacherFatalError: A token the tokenizer does not know (see :mod:`token_map`).
    """
    logprobs = choice.get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(content, list) or not content:
        return None
    ids: list[int] = []
    top: list[list[tuple[int, float]]] = []
    for step in content:
        if not isinstance(step, dict) or not isinstance(step.get("logprob"), int | float):
            return None
        ids.append(token_map.find(step))
        entries = step.get("top_logprobs") or []
        row = [
            (token_map.find(e), float(e["logprob"]))
            for e in entries
            if isinstance(e, dict) and isinstance(e.get("logprob"), int | float)
        ]
        top.append(sorted(row, key=lambda p: -p[1]))
    return TeacherTokens.build(ids, top, k)


def parse_chat_response(
    body: bytes,
    options: tuple[str, ...] | None = None,
    logprobs: int | None = None,
    token_map: TokenMap | None = None,
) -> Completion:
    """Map a chat-completions response body onto a :class:`Completion`.

    With ``options`` (a constrained-choice request's choices), the first token's
    ``top_logprobs`` become the answer when the server returned them; a server
    without ``logprobs`` leaves the free-text reply for strict parsing. With
    ``logprobs`` (top-k asked for), every answer token's ids and top-k come back
    as :attr:`Completion.tokens`, mapped to ids by ``token_map``.

    Raises:
        _Retry: The body is not JSON, or has no usable choice.
        TeacherFatalError: Log-probabilities were asked for and the server sent none.
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _Retry("malformed JSON in response") from None
    if not isinstance(data, dict):
        raise _Retry("malformed response: not a JSON object")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise _Retry("empty choice in response")
    choice = choices[0]
    message = choice.get("message") or {}
    text = message.get("content") if isinstance(message, dict) else None
    finish = choice.get("finish_reason")
    if not isinstance(text, str) or not text.strip():
        raise _Retry(f"empty answer in response (finish_reason={finish})")
    raw_usage = data.get("usage")
    usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
    distribution = _choice_logprobs(choice, options) if options else None
    if distribution is not None:
        return Completion(
            text=json.dumps(choice_distribution(distribution)),
            finish_reason=CHOICE,
            prompt_tokens=_int_or_none(usage.get("prompt_tokens")),
            completion_tokens=_int_or_none(usage.get("completion_tokens")),
        )
    tokens = None
    if logprobs and token_map is not None:
        tokens = tokens_from_content(choice, logprobs, token_map)
        if tokens is None:
            raise TeacherFatalError(
                "the server returned no log-probabilities for an answer that asked for them "
                "(it does not support logprobs/top_logprobs); run respond without logprobs"
            )
    return Completion(
        text=text,
        finish_reason=str(finish) if finish is not None else None,
        prompt_tokens=_int_or_none(usage.get("prompt_tokens")),
        completion_tokens=_int_or_none(usage.get("completion_tokens")),
        tokens=tokens,
    )


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


class OpenAITeacher(Teacher):
    """Chat completions over HTTP against an OpenAI-compatible server.

    Args:
        model: Model name sent in each request.
        api_key: Bearer token, or ``None`` for servers that need none.
        settings: Concurrency, timeouts, retries and rate limits.
        prices: Price table for cost accounting.
    """

    backend = "openai"

    def __init__(
        self,
        model: str,
        api_key: str | None,
        settings: OpenAISettings | None = None,
        prices: PriceTable | None = None,
        tokenizer: str | None = None,
    ) -> None:
        self.model = model
        self._api_key = api_key
        self.settings = settings or OpenAISettings()
        self.endpoint = endpoint_identity(self.settings.base_url)
        self.prices = prices or PriceTable()
        self.url = self.settings.base_url.rstrip("/") + "/chat/completions"
        self.tokenizer = tokenizer
        self._token_map: TokenMap | None = None

    def token_map(self) -> TokenMap | None:
        """The served model's vocabulary (``tokenizer``), loaded on first need."""
        if self._token_map is None and self.tokenizer:
            self._token_map = TokenMap.from_pretrained(self.tokenizer)
        return self._token_map

    def __repr__(self) -> str:  # never show the key
        return f"OpenAITeacher(model={self.model!r}, url={self.url!r})"

    def payload(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body for one request."""
        s = request.sampling
        body: dict[str, Any] = {
            "model": self.model,
            "messages": list(request.messages),
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_tokens": s.max_tokens,
        }
        if s.seed is not None:
            body["seed"] = s.seed
        if request.choices:  # the first token's distribution; text as a fallback
            body.update(logprobs=True, top_logprobs=20, temperature=0.0)
        elif request.logprobs:
            body.update(logprobs=True, top_logprobs=request.logprobs)
        for name in ("frequency_penalty", "presence_penalty"):
            value = getattr(s, name)
            if value is not None:
                body[name] = value
        return body

    def run(self, requests: Iterable[ChatRequest], sink: ResultSink) -> None:
        """Answer every request with bounded concurrency (see the module docstring)."""
        asyncio.run(self._run(iter(requests), sink))

    async def _run(self, requests: Iterator[ChatRequest], sink: ResultSink) -> None:
        s = self.settings
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        rpm = RateBucket(s.rpm) if s.rpm else None
        tpm = RateBucket(s.tpm) if s.tpm else None
        connector = aiohttp.TCPConnector(limit=s.concurrency, limit_per_host=s.concurrency)
        timeout = aiohttp.ClientTimeout(total=s.timeout_s)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, headers=headers
        ) as session:

            async def worker() -> None:
                for request in requests:  # shared iterator: each request taken once
                    completion = await self._call(session, request, rpm, tpm)
                    sink.put(request, completion)

            try:
                async with asyncio.TaskGroup() as group:
                    for _ in range(s.concurrency):
                        group.create_task(worker())
            except BaseExceptionGroup as eg:
                fatal = [e for e in eg.exceptions if isinstance(e, TeacherFatalError)]
                raise (fatal[0] if fatal else eg.exceptions[0]) from None
            finally:
                sink.flush()

    async def _call(
        self,
        session: aiohttp.ClientSession,
        request: ChatRequest,
        rpm: RateBucket | None,
        tpm: RateBucket | None,
    ) -> Completion:
        s = self.settings
        body = orjson.dumps(self.payload(request))
        estimate = request.prompt_chars() / 4 + request.sampling.max_tokens
        last_reason = ""
        for attempt in range(1, s.max_retries + 2):
            if rpm:
                await rpm.acquire(1)
            taken = await tpm.acquire(estimate) if tpm else 0.0
            try:
                completion = await self._attempt(session, body, request.choices, request.logprobs)
            except _Retry as exc:
                last_reason = exc.reason
                if tpm:
                    tpm.settle(-taken)
                if attempt > s.max_retries:
                    break
                await asyncio.sleep(self._delay(attempt, exc.retry_after))
                continue
            except _Fail as exc:
                return Completion(error=str(exc), attempts=attempt)
            if tpm:
                used = (completion.prompt_tokens or 0) + (completion.completion_tokens or 0)
                tpm.settle(used - taken if used else 0.0)
            completion.attempts = attempt
            completion.cost = self.prices.cost(
                self.model, completion.prompt_tokens, completion.completion_tokens
            )
            return completion
        if last_reason.startswith("cannot connect"):
            raise TeacherFatalError(
                f"{self.url}: {last_reason} (after {s.max_retries + 1} attempts); "
                "finished calls are saved, re-run to resume"
            )
        return Completion(
            error=f"{last_reason} (after {s.max_retries + 1} attempts)", attempts=s.max_retries + 1
        )

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        body: bytes,
        choices: tuple[str, ...] | None = None,
        logprobs: int | None = None,
    ) -> Completion:
        try:
            async with session.post(self.url, data=body) as response:
                payload = await response.read()
                status = response.status
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
        except aiohttp.ClientConnectorError as exc:
            raise _Retry(f"cannot connect ({exc.os_error.strerror or exc.os_error})") from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _Retry(f"request failed ({type(exc).__name__})") from None
        if status == 200:
            return parse_chat_response(payload, choices, logprobs, self.token_map())
        detail = _error_detail(payload)
        if status in FATAL_STATUSES:
            what = FATAL_STATUSES[status]
            hint = (
                " (check the API key variable)"
                if status in (401, 403)
                else " (check --model and --base-url)"
            )
            raise TeacherFatalError(f"{self.url}: {what}, HTTP {status}{detail}{hint}")
        if status in RETRY_STATUSES:
            raise _Retry(f"HTTP {status}{detail}", retry_after if status in (429, 503) else None)
        raise _Fail(f"HTTP {status}{detail}")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        s = self.settings
        backoff = random.uniform(0, min(s.backoff_max_s, s.backoff_base_s * 2 ** (attempt - 1)))
        if retry_after is not None:
            return min(s.retry_after_max_s, retry_after) + random.uniform(0, 0.1 * s.backoff_base_s)
        return backoff


def _error_detail(payload: bytes) -> str:
    """A short reason from an error body (OpenAI's ``{"error": {"message": ...}}``)."""
    try:
        data = orjson.loads(payload)
        message = data.get("error", {}).get("message") if isinstance(data, dict) else None
    except (orjson.JSONDecodeError, AttributeError):
        message = None
    if not message:
        return ""
    message = " ".join(str(message).split())
    return f": {message[:200]}"


class OpenAIOptions(TeacherOptions):
    """The ``openai`` backend: any OpenAI-compatible endpoint (OpenAI, a vLLM server, a gateway)."""

    backend: Literal["openai"] = Field("openai", json_schema_extra=cli(flag="--teacher"))
    base_url: str = Field(OPENAI_DEFAULT_URL, description="OpenAI-compatible endpoint")
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="Environment variable holding the API key"
    )
    concurrency: int = Field(16, ge=1, le=4096, description="Requests in flight")
    timeout_s: float = Field(
        120.0, gt=0, description="Seconds per HTTP request", json_schema_extra=cli(flag="--timeout")
    )
    max_retries: int = Field(6, ge=0, description="Retries per call")
    rpm: float | None = Field(None, gt=0, description="Requests-per-minute limit")
    tpm: float | None = Field(None, gt=0, description="Tokens-per-minute limit")
    prices: Path | None = Field(
        None, description="YAML/JSON price table: model: {input, output} USD per 1M tokens"
    )
    batch_api: bool = Field(
        False,
        description="Submit respond's calls through the Batch API (half price, answers within "
        "24 h; re-run the same command to resume polling); generate, select and judge keep the "
        "live endpoint",
    )
    batch_journal: Path | None = Field(None, json_schema_extra=cli(hidden=True))
    batch_poll_s: float = Field(
        30.0, gt=0, description="Seconds between Batch API polls",
        json_schema_extra=cli(flag="--poll"),
    )  # fmt: skip
    allow_insecure_key: bool = Field(
        False,
        description="Send the API key over plain HTTP to a non-loopback host (refused otherwise)",
    )
    tokenizer: str | None = Field(
        None,
        description="The served model's tokenizer (folder or cached hub id): maps the server's "
        "log-probability tokens to ids, for respond.logprobs",
    )

    @model_validator(mode="after")
    def _needs_a_model(self) -> OpenAIOptions:
        if not self.model:
            raise ValueError("model: required with the openai backend (the name the server knows)")
        return self

    def in_flight(self) -> int:
        """HTTP requests in flight."""
        return self.concurrency

    def max_logprobs(self) -> int | None:
        """The chat-completions API returns at most 20 top log-probabilities per token."""
        return OPENAI_MAX_LOGPROBS

    def key_destination(self) -> str | None:
        """Where the API key would go, in words (``None``: no key in the environment)."""
        if not os.environ.get(self.api_key_env):
            return None
        return f"the API key in ${self.api_key_env} goes to {self.base_url}"

    def identity(self) -> dict[str, str]:
        """Backend, model name and the normalised endpoint."""
        return {
            "backend": "openai",
            "model": self.model or "",
            "endpoint": endpoint_identity(self.base_url),
        }

    def live(self) -> OpenAIOptions:
        """The same endpoint without the Batch API (see :meth:`TeacherOptions.live`)."""
        return self.model_copy(update={"batch_api": False}) if self.batch_api else self

    def build(self) -> Teacher:
        """An :class:`OpenAITeacher` (or the Batch API teacher).

        Raises:
            HerdsmanError: An API key that would go over plain HTTP to another
                host, no key for the OpenAI API itself, or the Batch API with no journal.
        """
        key = os.environ.get(self.api_key_env) or None
        if key is not None and not self.allow_insecure_key and not key_may_go_to(self.base_url):
            raise HerdsmanError(
                f"refusing to send the API key in ${self.api_key_env} to {self.base_url}: "
                "keys go only over https or to a loopback address (set allow_insecure_key: true "
                "or pass --allow-insecure-key if you mean it)"
            )
        if key is None and self.base_url.rstrip("/") == OPENAI_DEFAULT_URL:
            raise HerdsmanError(
                f"environment variable {self.api_key_env} is not set (the OpenAI API needs a "
                "key; api_key_env / --api-key-env names another variable)"
            )
        prices = PriceTable.from_file(self.prices) if self.prices else PriceTable()
        if self.batch_api:
            from herdsman.teachers.openai_batch import BatchSettings, OpenAIBatchTeacher

            if self.batch_journal is None:
                raise HerdsmanError("the Batch API needs a journal file (batch_journal)")
            batch = BatchSettings(
                base_url=self.base_url,
                journal=self.batch_journal,
                poll_s=self.batch_poll_s,
                timeout_s=self.timeout_s,
            )
            return OpenAIBatchTeacher(self.model or "", key, batch, prices)
        settings = OpenAISettings(
            base_url=self.base_url,
            concurrency=self.concurrency,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            rpm=self.rpm,
            tpm=self.tpm,
        )
        return OpenAITeacher(self.model or "", key, settings, prices, tokenizer=self.tokenizer)
