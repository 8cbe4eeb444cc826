"""How to reach a teacher: one settings record shared by the command line and configs.

Kept apart from :mod:`herdsman.teachers.factory` (which imports the backends)
so that reading a config never loads a backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from herdsman.teachers import OPENAI_DEFAULT_URL


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
    device: str | None = None
    batch_api: bool = Field(False, description="openai: use the Batch API (half price, <= 24 h)")
    batch_journal: Path | None = None
    batch_poll_s: float = Field(30.0, gt=0)
    ray_address: str | None = Field(
        None, description="Run calls on Ray: local (start a cluster here), auto, or ray://HOST:PORT"
    )
    ray_workers: int = Field(2, ge=1)
