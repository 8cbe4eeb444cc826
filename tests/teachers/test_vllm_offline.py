"""vLLM backend without a GPU: request building, result mapping, the missing-extra message."""

from __future__ import annotations

import importlib.util
import json
import math
from types import SimpleNamespace

import pytest

from herdsman.errors import TeacherFatalError
from herdsman.records import SamplingParams
from herdsman.teachers.base import ChatRequest
from herdsman.teachers.factory import build_teacher
from herdsman.teachers.options import TeacherOptions
from herdsman.teachers.vllm_offline import VLLMTeacher, completion_from_output, sampling_kwargs


def request(**sampling: object) -> ChatRequest:
    return ChatRequest(
        key="k",
        messages=({"role": "user", "content": "Hi"},),
        sampling=SamplingParams(**sampling),  # type: ignore[arg-type]
    )


def test_sampling_kwargs() -> None:
    assert sampling_kwargs(request(temperature=0.0, top_p=0.9, max_tokens=64)) == {
        "temperature": 0.0, "top_p": 1.0, "max_tokens": 64,
    }  # fmt: skip
    assert sampling_kwargs(request(temperature=0.7, top_p=0.9, max_tokens=8, seed=3)) == {
        "temperature": 0.7, "top_p": 0.9, "max_tokens": 8, "seed": 3,
    }  # fmt: skip


def _output(text: str, finish: str | None = "stop") -> SimpleNamespace:
    """The fields of a vllm.RequestOutput that herdsman reads (vLLM is not installed here)."""
    choice = SimpleNamespace(text=text, finish_reason=finish, token_ids=[5, 6, 7])
    return SimpleNamespace(outputs=[choice], prompt_token_ids=[1, 2, 3, 4])


def test_completion_from_output() -> None:
    done = completion_from_output(_output(" Hello there. ", "length"))
    assert (done.text, done.finish_reason, done.prompt_tokens, done.completion_tokens) == (
        "Hello there.", "length", 4, 3,
    )  # fmt: skip
    assert completion_from_output(_output("   ")).error == "empty answer"
    assert completion_from_output(SimpleNamespace(outputs=[])).error == "vLLM returned no output"


def test_factory_builds_it_and_keys_use_the_model_name() -> None:
    teacher = build_teacher(TeacherOptions(backend="vllm"))
    assert isinstance(teacher, VLLMTeacher)
    assert (teacher.backend, teacher.model) == ("vllm", "smollm2-135m-instruct")


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed")
def test_without_the_extra_the_message_says_what_to_install() -> None:
    with pytest.raises(TeacherFatalError, match=r"pip install 'herdsman\[vllm\]'"):
        VLLMTeacher(None).load()


def test_choice_requests_read_the_first_tokens_logprobs() -> None:
    from types import SimpleNamespace

    from herdsman.records import SamplingParams
    from herdsman.teachers.base import CHOICE, ChatRequest
    from herdsman.teachers.vllm_offline import choice_from_output, sampling_kwargs

    request = ChatRequest(
        "k", ({"role": "user", "content": "Grade:"},), SamplingParams(max_tokens=48),
        choices=("A", "B", "C", "D"),
    )  # fmt: skip
    kwargs = sampling_kwargs(request)
    assert kwargs["max_tokens"] == 1 and kwargs["logprobs"] >= 4 and kwargs["temperature"] == 0
    step = {
        1: SimpleNamespace(decoded_token="B", logprob=math.log(0.6)),
        2: SimpleNamespace(decoded_token=" A", logprob=math.log(0.2)),
        3: SimpleNamespace(decoded_token="The", logprob=math.log(0.2)),
    }
    output = SimpleNamespace(
        outputs=[SimpleNamespace(logprobs=[step], text="B", token_ids=[1])], prompt_token_ids=[5, 6]
    )
    done = choice_from_output(output, request.choices or ())
    assert done is not None and done.finish_reason == CHOICE
    assert json.loads(done.text or "{}") == pytest.approx(
        {"A": 0.25, "B": 0.75, "C": 0.0, "D": 0.0}
    )
    nothing = SimpleNamespace(outputs=[SimpleNamespace(logprobs=[{3: step[3]}])])
    assert choice_from_output(nothing, ("A", "B")) is None  # no grade among them: free text
