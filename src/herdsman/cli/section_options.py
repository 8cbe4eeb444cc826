"""Command-line options derived from config sections: each setting is defined once.

A config section (a pydantic model in :mod:`herdsman.config`) is the one
source of a setting's name, type, default, bounds and help. :func:`with_section`
gives a command one option per field of a section, named after the field in
kebab-case (``dedup_threshold`` -> ``--dedup-threshold``), and hands the
command one validated section instead of a dozen arguments. A field added to
a section is therefore on its command with no other edit.

Why an adapter of our own rather than pydantic-settings' CLI or jsonargparse:
both parse ``sys.argv`` themselves, so they cannot sit inside Typer commands
(the ``--help`` pages, the one-line errors and the positional arguments every
herdsman command already has); this adapter only builds Typer options from
the fields and leaves parsing to Typer and validation to pydantic.

Every option's own default is ``None`` (not given): the section's default
applies, and ``--help`` shows it. Values reach pydantic as the user typed
them, so bounds and types are checked by the section itself; an error names
the flag the user wrote. Per-field command-line details live beside the field
in the section, through :func:`herdsman.config.cli`: another flag name where
the plain one would clash (``generate.seed`` is ``--random-seed``, because
``--seed`` is the sampling seed), short aliases users expect (``--lr``), or
``hidden`` for settings a command does not offer.
"""

from __future__ import annotations

import functools
import inspect
import operator
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Protocol, TypeVar, get_args, get_origin

import typer
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from herdsman.cli.app import EXIT_USAGE, user_errors
from herdsman.errors import HerdsmanError

F = TypeVar("F", bound=Callable[..., Any])
#: Typed on the command line to set an optional setting to nothing.
NONE_WORDS = ("none", "null")


@dataclass(frozen=True)
class Flag:
    """One command-line option of a section field."""

    param: str  #: the Python parameter name the option gets
    names: tuple[str, ...]  #: ``--kebab-name`` first, then aliases
    path: tuple[str, ...]  #: where the value goes in the section (nested fields)
    annotation: Any  #: the field's type (after Optional is removed)
    optional: bool  #: the field accepts ``None``
    help: str
    metavar: str

    @property
    def flag(self) -> str:
        """The option's names as an error message gives them (``--disable/--no-rule``)."""
        return "/".join(self.names)


@dataclass(frozen=True)
class SectionSpec:
    """How one section becomes options of one command."""

    model: type[BaseModel]
    param: str  #: the command's parameter that receives the validated section
    exclude: frozenset[str] = frozenset()
    #: Nested sections whose fields are offered without a prefix (``sampling`` -> ``--temperature``).
    flatten: frozenset[str] = frozenset()
    #: Nested sections whose fields are offered with their name as prefix (``--lora-r``);
    #: a model-valued field in neither set is one ``KEY=VALUE`` option (``--engine-arg``).
    nested: frozenset[str] = frozenset()
    #: Fields fixed by the command, not offered (``enabled`` for a command that always runs).
    fixed: Mapping[str, Any] = field(default_factory=dict)
    #: Defaults of this command that differ from the section's (only where the section's
    #: default depends on pipeline context the command lacks).
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def flags(self) -> list[Flag]:
        """The options this section gives its command."""
        return section_flags(self)

    def build(self, given: Mapping[str, Any], flags: list[Flag]) -> Any:
        """The validated section from the options' values."""
        return build_section(self, given, flags)


class OptionGroup(Protocol):
    """Anything :func:`with_section` can turn into options: a section, the teacher block."""

    @property
    def param(self) -> str:
        """The command's parameter that receives the built value."""
        ...

    def flags(self) -> list[Flag]:
        """The options."""
        ...

    def build(self, given: Mapping[str, Any], flags: list[Flag]) -> Any:
        """The value the command receives, from the options' values (``None``: not given)."""
        ...


def _cli_meta(info: FieldInfo) -> dict[str, Any]:
    extra = info.json_schema_extra
    if isinstance(extra, dict):
        meta = extra.get("cli")
        if isinstance(meta, dict):
            return meta
    return {}


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    if get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) < len(get_args(annotation)):
            return functools.reduce(operator.or_, args), True
    return annotation, False


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _describe(annotation: Any) -> str:
    """A short type word for ``--help``: the choices of a Literal, else the type's name."""
    origin = get_origin(annotation)
    if origin is Literal:
        return "|".join(str(a) for a in get_args(annotation))
    if origin in (list, tuple):
        inner = get_args(annotation)[0] if get_args(annotation) else str
        return f"{_describe(inner)}[,...]"
    if origin is dict or _is_model(annotation):
        return "KEY=VALUE"
    if get_origin(annotation) in (typing.Union, types.UnionType):
        return "|".join(_describe(a) for a in get_args(annotation))
    names = {int: "INTEGER", float: "FLOAT", str: "TEXT", bool: "BOOLEAN"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)).upper())


def _bounds(info: FieldInfo) -> str:
    parts = []
    for meta in info.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{sign}{value}")
    return " ".join(parts)


def section_flags(spec: SectionSpec, param_prefix: str | None = None) -> list[Flag]:
    """The options a section gives its command, in field order."""
    flags: list[Flag] = []
    stem = spec.param if param_prefix is None else param_prefix

    def walk(
        model: type[BaseModel], path: tuple[str, ...], prefix: str, parent: BaseModel | None
    ) -> None:
        for name, info in model.model_fields.items():
            full = (*path, name)
            dotted = ".".join(full)
            meta = _cli_meta(info)
            if dotted in spec.exclude or dotted in spec.fixed or meta.get("hidden"):
                continue
            annotation, optional = _strip_optional(info.annotation)
            own_default = (
                getattr(parent, name) if parent is not None
                else info.get_default(call_default_factory=True)
            )  # fmt: skip
            if _is_model(annotation) and dotted in spec.flatten | spec.nested:
                inner = own_default if isinstance(own_default, BaseModel) else None
                walk(annotation, full, "" if dotted in spec.flatten else f"{prefix}{name}_", inner)
                continue
            flag_name = meta.get("flag") or f"--{(prefix + name).replace('_', '-')}"
            names = (flag_name, *meta.get("aliases", ()))
            default = spec.defaults.get(dotted, own_default)
            words = [info.description or ""]
            kind = _describe(annotation)
            bounds = _bounds(info)
            words.append(f"[{bounds + '; ' if bounds else ''}default: {_show(default)}]")
            if optional and default is not None:
                words.append("('none' unsets it.)")
            flags.append(
                Flag(
                    param=f"{stem}__{'__'.join(full)}",
                    names=names,
                    path=full,
                    annotation=annotation,
                    optional=optional,
                    help=" ".join(w for w in words if w),
                    metavar=kind,
                )
            )

    walk(spec.model, (), "", None)
    return flags


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "none"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value) or "none"
    if isinstance(value, BaseModel):
        return "see config"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "none"
    return str(value)


def _parameter(flag: Flag) -> inspect.Parameter:
    origin = get_origin(flag.annotation)
    if flag.annotation is bool:
        positive = flag.names[0]
        option = typer.Option(f"{positive}/--no-{positive[2:]}", help=flag.help)
        annotation: Any = Annotated[bool | None, option]
    elif origin in (list, tuple, dict) or _is_model(flag.annotation):
        option = typer.Option(*flag.names, help=flag.help, show_default=False, metavar=flag.metavar)
        annotation = Annotated[list[str] | None, option]
    else:
        option = typer.Option(*flag.names, help=flag.help, show_default=False, metavar=flag.metavar)
        annotation = Annotated[str | None, option]
    return inspect.Parameter(
        flag.param, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation
    )


def _convert(flag: Flag, raw: Any) -> Any:
    """A typed value from what the user wrote; pydantic checks it against the field."""
    if isinstance(raw, str) and flag.optional and raw.strip().lower() in NONE_WORDS:
        return None
    origin = get_origin(flag.annotation)
    if origin in (list, tuple):
        items: list[str] = []
        for value in raw:
            items += [v.strip() for v in value.split(",") if v.strip()]
        if flag.optional and [i.lower() for i in items] in ([w] for w in NONE_WORDS):
            return None
        return items
    if origin is dict or _is_model(flag.annotation):
        out: dict[str, str] = {}
        for value in raw:
            key, sep, item = value.rpartition("=")
            if not sep or not key.strip():
                raise HerdsmanError(f"{flag.flag} {value}: expected KEY=VALUE")
            out[key.strip()] = item.strip()
        return out
    return raw


def build_section(spec: SectionSpec, given: Mapping[str, Any], flags: list[Flag]) -> BaseModel:
    """Validate the options the user gave (``None``: not given) into the section.

    Raises:
        HerdsmanError: A value the section refuses, naming the flag.
    """
    data: dict[str, Any] = {}
    for parent in sorted({f.path[:-1] for f in flags if len(f.path) > 1}, key=len):
        # A nested section the user touches starts from this section's default for it
        # (generate's sampling is not SamplingParams' own default).
        default = spec.model.model_fields[parent[0]].get_default(call_default_factory=True)
        for part in parent[1:]:
            default = getattr(default, part, None)
        if isinstance(default, BaseModel) and any(
            given.get(f.param) not in (None, []) for f in flags if f.path[: len(parent)] == parent
        ):
            _put(data, parent, default.model_dump())
    for dotted, value in spec.fixed.items():
        _put(data, tuple(dotted.split(".")), value)
    for dotted, value in spec.defaults.items():
        _put(data, tuple(dotted.split(".")), value)
    by_path = {f.path: f for f in flags}
    for flag in flags:
        raw = given.get(flag.param)
        if raw is None or (isinstance(raw, list) and not raw):
            continue
        _put(data, flag.path, _convert(flag, raw))
    try:
        return spec.model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(str(p) for p in first["loc"])
        depth, where = next(
            ((i, by_path[loc[:i]].flag) for i in range(len(loc), 0, -1) if loc[:i] in by_path),
            (0, None),
        )
        message = str(first["msg"]).removeprefix("Value error, ")
        if where is not None and depth < len(loc):  # inside a KEY=VALUE option
            where = f"{by_path[loc[:depth]].names[0]} {'.'.join(loc[depth:])}"
            if first["type"] == "extra_forbidden":
                message = "unknown setting"
        elif where is not None and first["type"] in ("literal_error", "enum"):
            message = f"{first['input']!r} is not allowed: {message}"
        if where is None and not loc:  # a check across fields: its message names the field
            head, sep, rest = message.partition(": ")
            named = next((f for f in flags if sep and ".".join(f.path) == head.split(".")[0]), None)
            if named is not None:
                where, message = named.flag, rest
        if where is None:
            where = ".".join(loc) or spec.model.__name__
        raise HerdsmanError(f"{where}: {message}") from None


def _put(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        data = data.setdefault(part, {})
    data[path[-1]] = value


def with_section(*specs: OptionGroup) -> Callable[[F], F]:
    """Give a command the options of one or more config sections.

    The decorated function declares a parameter per spec (``spec.param``),
    annotated with the section's type; the user sees the section's options
    instead, and the function receives the validated section.

    Raises:
        ValueError: At import time, when two options of the command share a name.
    """

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)
        hidden = {s.param for s in specs}
        # The command's own parameters, their string annotations evaluated as typer would
        # (the hidden ones may name TYPE_CHECKING-only types).
        own = [
            p.replace(annotation=eval(p.annotation, fn.__globals__))
            if isinstance(p.annotation, str)
            else p
            for p in signature.parameters.values()
            if p.name not in hidden
        ]
        flags = {s.param: s.flags() for s in specs}
        added = [_parameter(f) for group in flags.values() for f in group]
        _check_clashes(fn.__name__, own, [f for group in flags.values() for f in group])

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            with user_errors(EXIT_USAGE):
                for spec in specs:
                    given = {f.param: kwargs.pop(f.param) for f in flags[spec.param]}
                    kwargs[spec.param] = spec.build(given, flags[spec.param])
            return fn(**kwargs)

        params = [*own, *added]
        # Keyword-only parameters must follow the others; keep the command's order otherwise.
        params.sort(key=lambda p: p.kind == inspect.Parameter.KEYWORD_ONLY)
        wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        wrapper.__section_specs__ = specs  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def _option_names(param: inspect.Parameter) -> list[str]:
    annotation = param.annotation
    if get_origin(annotation) is Annotated:
        for meta in get_args(annotation)[1:]:
            decls = getattr(meta, "param_decls", None)
            if decls:
                names = []
                for d in ([meta.default] if isinstance(meta.default, str) else []) + list(decls):
                    names += [n for n in str(d).split("/") if n.startswith("-")]
                return names
    return []


def _check_clashes(command: str, own: list[inspect.Parameter], flags: list[Flag]) -> None:
    seen: dict[str, str] = {}
    for param in own:
        for name in _option_names(param):
            seen[name] = param.name
    for flag in flags:
        for name in flag.names:
            if name in seen:
                raise ValueError(
                    f"herdsman {command}: option {name} of {'.'.join(flag.path)} clashes with "
                    f"{seen[name]}; give the field another flag with config.cli(flag=...)"
                )
            seen[name] = ".".join(flag.path)


def command_settings(command: Callable[..., Any]) -> tuple[OptionGroup, ...]:
    """The sections a command was given by :func:`with_section` (for tests and docs)."""
    return tuple(getattr(command, "__section_specs__", ()))
