"""Typed records that flow between stages.

- :class:`Seed`: a normalised seed task (``herdsman seeds`` output).
- :class:`Instruction`: an instruction to be answered, original or generated,
  with its provenance.
- :class:`Example`: one LaMini record, ``{"instruction", "response",
  "instruction_source"}`` plus provenance columns (the published LaMini format, so
  tools that read LaMini data read herdsman's).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: The seven values of ``instruction_source`` in the published LaMini dataset.
LAMINI_SOURCES = (
    "alpaca",
    "generated_flan",
    "generated_p3",
    "original_flan",
    "original_p3",
    "self_instruct_with_topic",
    "self_instruct_without_topic",
)

#: How an original seed's ``source`` maps onto LaMini's ``instruction_source``.
ORIGINAL_SOURCE = {
    "alpaca": "alpaca",
    "p3": "original_p3",
    "flan": "original_flan",
    "self-instruct": "self_instruct_without_topic",
}


def utc_now() -> str:
    """Return the current UTC time as an ISO-8601 string (seconds precision)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _instruction_not_blank(cls: type, value: str) -> str:
    if not value.strip():
        raise ValueError("instruction is empty")
    return value


class Record(BaseModel):
    """Base for all records: strict about unknown fields only where it matters."""

    model_config = ConfigDict(extra="ignore", frozen=False)

    def to_json_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-ready dict, leaving out empty optional fields."""
        return self.model_dump(mode="json", exclude_none=True)


class Seed(Record):
    """A seed task, normalised from any supported format.

    Attributes:
        id: Stable id, ``<source>:<subset>:<original id or line>``.
        instruction: The task text (never empty).
        input: Optional input the instruction applies to.
        output: The reference answer, when the source has one.
        source: ``self-instruct``, ``alpaca``, ``p3``, ``flan`` or a user name.
        subset: The group examples are drawn from together (P3 template, FLAN task).
        origin: Which configured seed source it came from (pipeline runs), for
            per-source sampling weights.
    """

    id: str
    instruction: str
    input: str = ""
    output: str = ""
    source: str
    subset: str = ""
    origin: str | None = None

    _not_blank = field_validator("instruction")(_instruction_not_blank)


class SamplingParams(BaseModel):
    """Sampling parameters; they are part of a teacher call's key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling mass")
    max_tokens: int = Field(512, ge=1, description="Completion token limit")
    seed: int | None = Field(None, description="Sampling seed")
    repetition_penalty: float | None = Field(
        None, gt=0.0, le=3.0,
        description="Above 1 discourages tokens already generated (local and vLLM teachers)",
    )  # fmt: skip
    frequency_penalty: float | None = Field(
        None, ge=-2.0, le=2.0, description="Penalty for frequent tokens (OpenAI-compatible, vLLM)"
    )
    presence_penalty: float | None = Field(
        None, ge=-2.0, le=2.0, description="Penalty for tokens present (OpenAI-compatible, vLLM)"
    )


class Provenance(Record):
    """Where a record came from; every field optional so partial provenance is fine."""

    teacher: str | None = None
    model: str | None = None
    prompt_hash: str | None = None
    call_key: str | None = None
    seed_ids: list[str] | None = None
    topics: list[str] | None = None
    sampling: SamplingParams | None = None
    created_at: str | None = None


class Instruction(Record):
    """An instruction waiting for a response.

    Attributes:
        id: Stable id of the instruction (seed id or generated id).
        instruction: The task text.
        input: Optional input; rendered after a blank line.
        instruction_source: LaMini source label (see :data:`LAMINI_SOURCES`).
        provenance: How it was produced.
    """

    id: str
    instruction: str
    input: str = ""
    instruction_source: str
    provenance: Provenance | None = None

    _not_blank = field_validator("instruction")(_instruction_not_blank)

    def prompt_text(self) -> str:
        """The text shown to the teacher: instruction, then a blank line and the input."""
        return render_instruction(self.instruction, self.input)


class Example(Record):
    """One LaMini record: an instruction with the teacher's response.

    The first three fields are exactly LaMini's; the rest are provenance
    columns that tools reading LaMini data ignore.
    """

    instruction: str
    response: str
    instruction_source: str
    id: str | None = None
    teacher: str | None = None
    model: str | None = None
    call_key: str | None = None
    prompt_hash: str | None = None
    sampling: SamplingParams | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    seed_ids: list[str] | None = None
    topics: list[str] | None = None
    created_at: str | None = None


def render_instruction(instruction: str, input_text: str = "") -> str:
    """Render an instruction with its optional input the usual way.

    Args:
        instruction: The task text.
        input_text: Optional input; appended after a blank line when not blank.

    Returns:
        The prompt text.
    """
    instruction = instruction.strip()
    input_text = input_text.strip()
    return f"{instruction}\n\n{input_text}" if input_text else instruction
