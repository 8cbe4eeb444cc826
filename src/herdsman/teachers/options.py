"""How to reach a teacher: the settings every backend shares, and the in-flight width.

Each backend module (``local``, ``openai_http``, ``vllm_offline``) defines one
validated settings model, a subclass of :class:`TeacherOptions` tagged by its
``backend`` field; :mod:`herdsman.teachers.registry` lists them, and a
config's ``teacher:`` section and the commands' teacher options are that
union (:func:`herdsman.teachers.registry.parse_teacher`). A setting of one
backend given to another is an error, not silently ignored.

**In-flight width.** How many calls a teacher works on at once has one name
per backend, because it means a different thing for each: ``concurrency``
(HTTP requests in flight, openai), ``batch_size`` (prompts per ``generate()``
batch, local) and ``window`` (prompts per vLLM engine call, vllm); with Ray,
each of ``ray_workers`` works on that many. :meth:`TeacherOptions.in_flight`
is the product, and it is what ``generate.wave`` defaults to.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from herdsman.teachers.base import Teacher


def cli(
    *, flag: str | None = None, aliases: tuple[str, ...] = (), hidden: bool = False
) -> dict[str, Any]:
    """A setting's command-line details, kept beside its field (``json_schema_extra=cli(...)``).

    Every config section and teacher backend uses it; the commands read it
    through :mod:`herdsman.cli.section_options`.

    Args:
        flag: The option's name where ``--kebab-name`` would clash or mislead.
        aliases: Further names users expect (``--lr``) or that older releases used.
        hidden: The setting is not offered on the command line.
    """
    return {"cli": {"flag": flag, "aliases": list(aliases), "hidden": hidden}}


class TeacherOptions(BaseModel):
    """Settings every teacher backend has; subclasses add their own (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    backend: str = Field(
        "local",
        description="Backend: local, openai or vllm (herdsman[vllm], GPU)",
        json_schema_extra=cli(flag="--teacher"),
    )
    model: str | None = Field(
        None,
        description="Model name (openai) or model folder / cached hub id (local, vllm; default: "
        "embedded SmolLM2-135M-Instruct)",
    )
    tokens_per_second: float = Field(
        50.0,
        gt=0,
        description="Dry-run estimate of generated tokens/s",
        json_schema_extra=cli(hidden=True),
    )

    def in_flight(self) -> int:
        """Calls this teacher works on at once (see the module docstring)."""
        return 1

    def key_destination(self) -> str | None:
        """Where an API key would go, in words (``None``: no key for this backend)."""
        return None

    def max_logprobs(self) -> int | None:
        """The most top-k log-probabilities the backend returns per token (``None``: no cap)."""
        return None

    def identity(self) -> dict[str, str]:
        """What of the teacher decides its answers: backend, model and endpoint.

        The same values name its calls in the run store (a teacher's
        ``backend``, ``model`` and ``endpoint``), so a stage fingerprint and a
        call key change together: new weights in the same folder are a new
        teacher for both.
        """
        raise NotImplementedError

    def build(self) -> Teacher:
        """The teacher these settings describe (one process; Ray is added by the factory)."""
        raise NotImplementedError

    def live(self) -> TeacherOptions:
        """These settings for calls made as they are needed, a wave at a time.

        ``generate`` learns its next calls from the last wave's replies, and
        ``select`` and ``judge`` ask again after a reply that is not a grade:
        a transport that answers within hours (the OpenAI Batch API) would
        make each wave wait that long. Only ``respond``, whose every call is
        known up front, takes the settings as given. The identity, and so
        every call key, is the same.
        """
        return self


class RayOptions(BaseModel):
    """Settings of backends that can spread their calls over Ray workers."""

    ray_address: str | None = Field(
        None,
        description="Spread calls over Ray workers (herdsman[ray]): local (start a cluster on "
        "the local host), auto (the running cluster) or ray://HOST:PORT",
        json_schema_extra=cli(flag="--ray"),
    )
    ray_workers: int = Field(2, ge=1, description="Ray worker actors")

    def ray_width(self) -> int:
        """Workers that share the calls (1 without Ray)."""
        return self.ray_workers if self.ray_address else 1


def key_may_go_to(base_url: str) -> bool:
    """Whether an API key may be sent to ``base_url`` without ``allow_insecure_key``.

    Only over HTTPS, or to a loopback address (a local server): anything else
    would send the secret in clear text across a network.
    """
    parsed = urlsplit(base_url)
    if parsed.scheme == "https":
        return True
    host = (parsed.hostname or "").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
