"""The hub mode: whether herdsman may talk to the Hugging Face Hub (``offline`` or ``online``).

One setting decides it: the command line's ``herdsman --hub MODE`` (or
``HERDSMAN_HUB``), else a pipeline config's top-level ``hub:``, else
``offline``. ``offline`` downloads nothing (``HF_HUB_OFFLINE`` and
``HF_DATASETS_OFFLINE`` on); ``online`` lets student bases and teachers given
as hub ids download into the Hugging Face cache, lm-eval load benchmark data,
and ``push_to_hub`` upload.

huggingface_hub and datasets read those variables once, when they are first
imported; a config is read later, so :func:`set_hub_mode` also sets the
constants of the ones already imported. The environment stays the one source
that processes started later (``accelerate launch``, Ray workers) inherit.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, cast

from herdsman.errors import HerdsmanError

HubMode = Literal["offline", "online"]
HUB_MODES: tuple[HubMode, ...] = ("offline", "online")
#: Set by ``herdsman --hub MODE`` (or by the user): the command line's choice, which wins
#: over a config's ``hub:``.
HUB_ENV = "HERDSMAN_HUB"
#: What turns the setting on in messages.
HOW_ONLINE = "set `hub: online` in the config or run `herdsman --hub online ...`"
_FALSE = ("0", "false", "no", "off")


def check_hub_mode(value: str, where: str = "hub") -> HubMode:
    """``value`` as a hub mode.

    Raises:
        HerdsmanError: Neither ``offline`` nor ``online``, naming ``where`` it came from.
    """
    mode = value.strip().lower()
    if mode not in HUB_MODES:
        raise HerdsmanError(f"{where}: '{value}' is not a hub mode (offline or online)")
    return cast(HubMode, mode)


def set_hub_mode(mode: str) -> None:
    """Switch this process (and the processes it starts) to ``mode``.

    Sets ``HF_HUB_OFFLINE`` and ``HF_DATASETS_OFFLINE``, and the constants that
    huggingface_hub and datasets read from them at import time, when those
    libraries are already imported (transformers asks huggingface_hub).

    Raises:
        HerdsmanError: An unknown mode.
    """
    offline = check_hub_mode(mode) == "offline"
    flag = "1" if offline else "0"
    os.environ["HF_HUB_OFFLINE"] = flag
    os.environ["HF_DATASETS_OFFLINE"] = flag
    constants: Any = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = offline
    datasets_config: Any = sys.modules.get("datasets.config")
    if datasets_config is not None:
        datasets_config.HF_HUB_OFFLINE = offline
        datasets_config.HF_DATASETS_OFFLINE = offline


def hub_mode() -> HubMode:
    """The mode in force: ``online`` only where ``HF_HUB_OFFLINE`` is set to a false value."""
    value = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return "online" if value in _FALSE else "offline"


def command_line_hub() -> HubMode | None:
    """The mode the command line chose (``--hub`` or ``HERDSMAN_HUB``), if it chose one.

    Raises:
        HerdsmanError: ``HERDSMAN_HUB`` is neither mode.
    """
    value = os.environ.get(HUB_ENV)
    return check_hub_mode(value, HUB_ENV) if value else None


def apply_config_hub(mode: HubMode) -> HubMode:
    """A config's ``hub:`` takes effect unless the command line chose; returns the mode in force."""
    chosen = command_line_hub() or mode
    set_hub_mode(chosen)
    return chosen


def hub_cache() -> Path:
    """The Hugging Face hub cache folder (``HF_HUB_CACHE``, else ``HF_HOME/hub``)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def push_token(setting: str, token_env: str) -> str:
    """The token a ``push_to_hub`` setting uploads with, after checking it may upload at all.

    Args:
        setting: The setting's name for the message (``students[0].push_to_hub``).
        token_env: The environment variable holding the token.

    Raises:
        HerdsmanError: The hub is offline, or the token variable is empty.
    """
    token = os.environ.get(token_env, "").strip()
    if not token:
        raise HerdsmanError(
            f"{setting}: pushing needs a Hugging Face token in ${token_env}, and it is empty "
            "(set it, or remove push_to_hub)"
        )
    if hub_mode() == "offline":
        raise HerdsmanError(f"{setting}: pushing needs the hub, and hub is offline ({HOW_ONLINE})")
    return token


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _is_network_error(exc: BaseException) -> bool:
    root = type(exc).__module__.split(".")[0]
    return isinstance(exc, ConnectionError | TimeoutError) or root in (
        "httpx",
        "httpx2",
        "httpcore",
        "requests",
        "urllib3",
    )


def describe_hub_error(exc: BaseException, *, talking_to_hub: bool = False) -> str | None:
    """One line for a failed talk with the hub (offline, no network, no access), or ``None``.

    Args:
        exc: The error.
        talking_to_hub: The error came from a call to the hub, so a network error of
            any library is the hub's (else only huggingface_hub's own errors are described).
    """
    from_hub = type(exc).__module__.split(".")[0] == "huggingface_hub"
    if not from_hub and not (talking_to_hub and _is_network_error(exc)):
        return None
    from huggingface_hub import constants, errors

    endpoint = constants.ENDPOINT
    if isinstance(exc, errors.OfflineModeIsEnabled):
        return f"the hub is offline ({HOW_ONLINE})"
    if isinstance(exc, errors.GatedRepoError):
        return (
            f"{_first_line(exc)}: a gated repository; accept its terms on the hub and set a token "
            "with access in $HF_TOKEN"
        )
    if isinstance(exc, errors.RepositoryNotFoundError):
        return (
            f"no such repository on {endpoint}, or it is private and the token (in $HF_TOKEN) "
            "has no access to it"
        )
    if isinstance(exc, errors.HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            return f"{endpoint} refused the token (HTTP {status}): check $HF_TOKEN"
        return f"{endpoint}: {_first_line(exc)}"
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, errors.LocalEntryNotFoundError) and cause is not None:
        return f"cannot reach {endpoint} ({_first_line(cause)}); check the network or HF_ENDPOINT"
    if _is_network_error(exc):
        return f"cannot reach {endpoint} ({_first_line(exc)}); check the network or HF_ENDPOINT"
    return f"{endpoint}: {_first_line(exc)}"


@contextmanager
def hub_errors(what: str) -> Iterator[None]:
    """Turn a failed talk with the hub inside the block into one line naming ``what`` was done.

    Raises:
        HerdsmanError: ``what: the reason`` (offline, unreachable, no access, ...).
    """
    try:
        yield
    except HerdsmanError:
        raise
    except Exception as exc:
        line = describe_hub_error(exc, talking_to_hub=True)
        if line is None:
            raise
        raise HerdsmanError(f"{what}: {line}") from None
