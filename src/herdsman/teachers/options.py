"""How to reach a teacher: one settings record shared by the command line and configs.

Kept apart from :mod:`herdsman.teachers.factory` (which imports the backends)
so that reading a config never loads a backend.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from herdsman.teachers import OPENAI_DEFAULT_URL


class VLLMEngineArgs(BaseModel):
    """The ``vllm.LLM`` engine settings herdsman passes through (``teacher.engine_args``).

    Unset fields keep vLLM's defaults. ``tensor_parallel_size`` spreads one
    model over that many GPUs (a 70B teacher); on Ray each actor then asks
    for that many GPUs. ``max_model_len`` caps the context so that a
    long-context model starts on a smaller card; ``gpu_memory_utilization``
    is the share of each GPU vLLM reserves (its default is 0.9).
    """

    model_config = ConfigDict(extra="forbid")

    tensor_parallel_size: int | None = Field(None, ge=1, le=64)
    pipeline_parallel_size: int | None = Field(None, ge=1, le=64)
    max_model_len: int | None = Field(None, ge=16)
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1)
    dtype: Literal["auto", "bfloat16", "float16", "float32"] | None = None
    enforce_eager: bool | None = None
    max_num_seqs: int | None = Field(None, ge=1)
    enable_prefix_caching: bool | None = None
    quantization: str | None = None
    seed: int | None = None

    def as_kwargs(self) -> dict[str, object]:
        """The set fields, as ``vllm.LLM`` keyword arguments."""
        return self.model_dump(exclude_none=True)

    def gpus(self) -> int:
        """GPUs one engine uses."""
        return (self.tensor_parallel_size or 1) * (self.pipeline_parallel_size or 1)


class TeacherOptions(BaseModel):
    """How to reach a teacher. The CLI's teacher options and a config's ``teacher:`` section."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["local", "openai", "vllm"] = "local"
    model: str | None = None
    base_url: str = OPENAI_DEFAULT_URL
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(16, ge=1, le=4096)
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(6, ge=0)
    rpm: float | None = Field(None, gt=0)
    tpm: float | None = Field(None, gt=0)
    prices: Path | None = None
    batch_size: int = Field(16, ge=1)
    window: int = Field(
        4096, ge=1, description="vllm: requests per engine call (and per Ray task with vllm)"
    )
    engine_args: VLLMEngineArgs = Field(default_factory=VLLMEngineArgs)
    device: str | None = None
    batch_api: bool = Field(False, description="openai: use the Batch API (half price, <= 24 h)")
    batch_journal: Path | None = None
    batch_poll_s: float = Field(30.0, gt=0)
    ray_address: str | None = Field(
        None, description="Run calls on Ray: local (start a cluster here), auto, or ray://HOST:PORT"
    )
    ray_workers: int = Field(2, ge=1)
    allow_insecure_key: bool = Field(
        False,
        description="Send the API key over plain HTTP to a non-loopback host (off: refused)",
    )

    def key_destination(self) -> str | None:
        """Where the API key would go, in words (``None``: no key for this backend/endpoint)."""
        if self.backend != "openai" or not os.environ.get(self.api_key_env):
            return None
        return f"the API key in ${self.api_key_env} goes to {self.base_url}"


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
