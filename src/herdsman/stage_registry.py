"""Every pipeline stage in run order (data preparation and training, then evaluation)."""

from __future__ import annotations

from herdsman.stages import CORE_STAGES, Stage
from herdsman.stages_eval import EVAL_STAGES

STAGES: tuple[Stage, ...] = (*CORE_STAGES, *EVAL_STAGES)
STAGE_NAMES = tuple(s.name for s in STAGES)
