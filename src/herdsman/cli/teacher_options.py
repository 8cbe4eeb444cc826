"""The teacher and sampling options of every command that calls a teacher, defined once.

``respond``, ``generate`` and ``judge`` take the same block of options
(``--teacher``, ``--model``, ``--base-url``, ...). :func:`teacher_command`
adds that block to a command's signature, with defaults read from
:class:`~herdsman.teachers.factory.TeacherOptions` so the CLI and configs
cannot drift apart, and hands the command one validated ``TeacherOptions``
(and, where asked, one ``SamplingParams``) instead of a dozen arguments.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from herdsman.cli.app import user_errors
from herdsman.errors import HerdsmanError

F = TypeVar("F", bound=Callable[..., Any])
BACKENDS = ("local", "openai", "vllm")


@dataclass(frozen=True)
class SamplingDefaults:
    """A command's default sampling (answers are greedy; generation samples)."""

    temperature: float
    top_p: float
    max_tokens: int


def _teacher_params() -> list[inspect.Parameter]:
    from herdsman.teachers.options import TeacherOptions

    d = {name: f.default for name, f in TeacherOptions.model_fields.items()}
    spec: list[tuple[str, Any, Any]] = [
        ("teacher", Annotated[str, typer.Option("--teacher", help="Backend: local, openai or vllm (herdsman[vllm], GPU).")], d["backend"]),
        ("model", Annotated[str | None, typer.Option("--model", help="Model name (openai) or local model folder (local, vllm; default: embedded SmolLM2-135M-Instruct).")], d["model"]),
        ("base_url", Annotated[str, typer.Option("--base-url", help="OpenAI-compatible endpoint.")], d["base_url"]),
        ("api_key_env", Annotated[str, typer.Option("--api-key-env", help="Environment variable holding the API key.")], d["api_key_env"]),
        ("concurrency", Annotated[int, typer.Option("--concurrency", min=1, help="Requests in flight (openai).")], d["concurrency"]),
        ("batch_size", Annotated[int, typer.Option("--batch-size", min=1, help="Prompts per generate() batch (local).")], d["batch_size"]),
        ("rpm", Annotated[float | None, typer.Option("--rpm", help="Requests-per-minute limit (openai).")], d["rpm"]),
        ("tpm", Annotated[float | None, typer.Option("--tpm", help="Tokens-per-minute limit (openai).")], d["tpm"]),
        ("max_retries", Annotated[int, typer.Option("--max-retries", min=0, help="Retries per call (openai).")], d["max_retries"]),
        ("timeout", Annotated[float, typer.Option("--timeout", help="Seconds per HTTP request (openai).")], d["timeout_s"]),
        ("prices", Annotated[Path | None, typer.Option("--prices", help="YAML/JSON price table: model: {input, output} USD per 1M tokens.")], None),
        ("allow_insecure_key", Annotated[bool, typer.Option("--allow-insecure-key", help="Send the API key over plain HTTP to a non-loopback --base-url (refused otherwise).")], d["allow_insecure_key"]),
        ("window", Annotated[int, typer.Option("--window", min=1, help="Requests per vLLM engine call (vllm).")], d["window"]),
        ("engine_arg", Annotated[list[str] | None, typer.Option("--engine-arg", help="vLLM engine setting KEY=VALUE (repeatable): tensor_parallel_size, max_model_len, gpu_memory_utilization, dtype, enforce_eager, ...")], None),
    ]  # fmt: skip
    return [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=v, annotation=a)
        for n, a, v in spec
    ]


def _sampling_params(defaults: SamplingDefaults) -> list[inspect.Parameter]:
    spec: list[tuple[str, Any, Any]] = [
        ("temperature", Annotated[float, typer.Option("--temperature", min=0.0, max=2.0)], defaults.temperature),
        ("top_p", Annotated[float, typer.Option("--top-p", min=0.0, max=1.0)], defaults.top_p),
        ("max_tokens", Annotated[int, typer.Option("--max-tokens", min=1, help="Completion token limit.")], defaults.max_tokens),
        ("seed", Annotated[int | None, typer.Option("--seed", help="Sampling seed.")], None),
    ]  # fmt: skip
    return [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=v, annotation=a)
        for n, a, v in spec
    ]


def build_options(values: dict[str, Any]) -> Any:
    """One validated :class:`TeacherOptions` from the option block's values.

    Raises:
        HerdsmanError: An unknown backend.
    """
    from herdsman.teachers.options import TeacherOptions

    engine_args = parse_engine_args(values.get("engine_arg") or [])
    if values["teacher"] not in BACKENDS:
        raise HerdsmanError(
            f"--teacher: unknown backend '{values['teacher']}' (local, openai or vllm)"
        )
    return TeacherOptions(
        backend=values["teacher"],
        model=values["model"],
        base_url=values["base_url"],
        api_key_env=values["api_key_env"],
        concurrency=values["concurrency"],
        batch_size=values["batch_size"],
        rpm=values["rpm"],
        tpm=values["tpm"],
        max_retries=values["max_retries"],
        timeout_s=values["timeout"],
        prices=values["prices"],
        allow_insecure_key=values["allow_insecure_key"],
        window=values["window"],
        engine_args=engine_args,
    )


def parse_engine_args(items: list[str]) -> Any:
    """``--engine-arg KEY=VALUE`` options as validated :class:`VLLMEngineArgs` (YAML values).

    Raises:
        HerdsmanError: Not KEY=VALUE, an unknown key, or a value out of range.
    """
    import yaml
    from pydantic import ValidationError

    from herdsman.teachers.options import VLLMEngineArgs

    found: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise HerdsmanError(f"--engine-arg {item}: expected KEY=VALUE, e.g. max_model_len=8192")
        try:
            found[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            found[key.strip()] = value
    try:
        return VLLMEngineArgs(**found)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        known = ", ".join(VLLMEngineArgs.model_fields)
        message = "unknown setting" if first["type"] == "extra_forbidden" else first["msg"]
        raise HerdsmanError(f"--engine-arg {where}: {message} (settings: {known})") from None


def build_sampling(values: dict[str, Any]) -> Any:
    """One validated :class:`SamplingParams` from the sampling options.

    Raises:
        HerdsmanError: ``--top-p`` of zero.
    """
    from herdsman.records import SamplingParams

    if values["top_p"] <= 0:
        raise HerdsmanError("--top-p must be above 0")
    return SamplingParams(
        temperature=values["temperature"],
        top_p=values["top_p"],
        max_tokens=values["max_tokens"],
        seed=values["seed"],
    )


def teacher_command(sampling: SamplingDefaults | None = None) -> Callable[[F], F]:
    """Give a command the teacher option block (and the sampling block when ``sampling`` is set).

    The decorated function declares ``teacher_options`` (and ``sampling``)
    parameters; the user sees ``--teacher``, ``--model``, ... instead.

    Args:
        sampling: The command's sampling defaults; ``None`` for no sampling options.
    """

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)
        hidden = {"teacher_options", "sampling"}
        # The command's own parameters, their string annotations evaluated as
        # typer would (the hidden ones may name TYPE_CHECKING-only types).
        own = [
            p.replace(annotation=eval(p.annotation, fn.__globals__))
            if isinstance(p.annotation, str)
            else p
            for p in signature.parameters.values()
            if p.name not in hidden
        ]
        added = _teacher_params() + (_sampling_params(sampling) if sampling else [])
        teacher_names = [p.name for p in _teacher_params()]
        sampling_names = [p.name for p in added if p.name not in teacher_names]

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            teacher_values = {n: kwargs.pop(n) for n in teacher_names}
            sampling_values = {n: kwargs.pop(n) for n in sampling_names}
            with user_errors():
                kwargs["teacher_options"] = build_options(teacher_values)
                if sampling:
                    kwargs["sampling"] = build_sampling(sampling_values)
            return fn(**kwargs)

        params = [*own, *added]
        wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper  # type: ignore[return-value]

    return decorate
