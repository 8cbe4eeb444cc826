"""The pipeline's stages in run order: the only place that knows the order.

The runner and ``herdsman run --stage`` read this module. The stage tables of
the README and ``docs/architecture.md`` are written by hand and kept in this
order by ``tests/test_docs_drift.py``. A stage is the module of the same name in
:mod:`herdsman.pipeline.stages`; a new stage is one module there plus one name
here. The names are plain strings so that the command line can list them
without importing every stage.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from herdsman.pipeline.context import Stage

STAGE_NAMES: tuple[str, ...] = (
    "seeds",
    "topics",
    "generate",
    "respond",
    "quality",
    "dataset",
    "analyze",
    "select",
    "train",
    "evaluate",
    "ablate",
    "judge",
    "report",
)


@cache
def stages() -> tuple[Stage, ...]:
    """Every stage, in run order."""
    return tuple(
        importlib.import_module(f"herdsman.pipeline.stages.{name}").STAGE for name in STAGE_NAMES
    )
