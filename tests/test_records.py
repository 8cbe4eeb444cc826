from __future__ import annotations

import pytest
from pydantic import ValidationError

from herdsman.records import Example, Instruction, SamplingParams, Seed, render_instruction


def test_render_instruction_adds_input_after_blank_line() -> None:
    assert render_instruction("Sort the numbers.", "3, 1, 2") == "Sort the numbers.\n\n3, 1, 2"
    assert render_instruction("  Name a colour. ", "   ") == "Name a colour."


def test_seed_and_instruction_reject_blank_instruction() -> None:
    with pytest.raises(ValidationError):
        Seed(id="x", instruction="   ", source="jsonl")
    with pytest.raises(ValidationError):
        Instruction(id="x", instruction="", instruction_source="alpaca")


def test_example_dumps_lamini_fields_first_and_drops_empty_provenance() -> None:
    ex = Example(instruction="Hi", response="Hello", instruction_source="alpaca", teacher="openai")
    data = ex.to_json_dict()
    assert list(data)[:3] == ["instruction", "response", "instruction_source"]
    assert data["teacher"] == "openai" and "call_key" not in data


def test_sampling_params_are_validated_and_hashable() -> None:
    with pytest.raises(ValidationError):
        SamplingParams(temperature=-1)
    with pytest.raises(ValidationError):
        SamplingParams(max_tokens=0)
    assert len({SamplingParams(), SamplingParams()}) == 1
