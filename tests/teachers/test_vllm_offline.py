"""vLLM backend without a GPU: request building, result mapping, the missing-extra message, and
the whole backend against a fake ``vllm`` module that checks its arguments like vLLM 0.9+.

The fake engine: ``LLM(model, **engine_args)`` and ``LLM.chat(list_of_conversations,
list_of_sampling_params, use_tqdm=...)`` refuse anything the real signatures would, and
answer deterministically. Everything around it (request windows, the run store, choice
log-probs, engine settings from the config and the command line, the install message) is
herdsman's real code.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import types
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from herdsman.config import load_config
from herdsman.errors import InputError, TeacherFatalError
from herdsman.records import SamplingParams
from herdsman.store.calls import execute
from herdsman.store.run_store import RunStore, call_key
from herdsman.teachers.base import CHOICE, ChatRequest
from herdsman.teachers.factory import build_teacher
from herdsman.teachers.registry import teacher_options
from herdsman.teachers.vllm_offline import VLLMTeacher, completion_from_output, sampling_kwargs
from tests.conftest import assert_one_line_error, run_cli


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
    teacher = build_teacher(teacher_options(backend="vllm"))
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


SAMPLING_KEYS = {
    "temperature", "top_p", "max_tokens", "seed", "repetition_penalty",
    "frequency_penalty", "presence_penalty", "logprobs",
}  # fmt: skip
ENGINE_KEYS = {
    "tensor_parallel_size", "pipeline_parallel_size", "max_model_len", "gpu_memory_utilization",
    "dtype", "enforce_eager", "max_num_seqs", "enable_prefix_caching", "quantization", "seed",
}  # fmt: skip


class FakeSamplingParams:
    def __init__(self, **kwargs: Any) -> None:
        unknown = set(kwargs) - SAMPLING_KEYS
        if unknown:
            raise TypeError(f"SamplingParams got unexpected keyword(s) {sorted(unknown)}")
        if kwargs.get("temperature", 1.0) < 0 or int(kwargs.get("max_tokens", 16)) < 1:
            raise ValueError("bad sampling values")
        self.__dict__.update(kwargs)


class FakeLLM:
    instances: ClassVar[list[FakeLLM]] = []

    def __init__(self, model: str, **kwargs: Any) -> None:
        if not (Path(model) / "config.json").is_file():
            raise ValueError(f"{model} is not a model folder")
        unknown = set(kwargs) - ENGINE_KEYS
        if unknown:
            raise TypeError(f"LLM got unexpected keyword(s) {sorted(unknown)}")
        self.model, self.kwargs, self.calls = model, kwargs, []
        FakeLLM.instances.append(self)

    def chat(self, messages: Any, sampling_params: Any = None, use_tqdm: bool = True) -> list[Any]:
        assert isinstance(messages, list) and messages, "a list of conversations"
        for conversation in messages:
            assert isinstance(conversation, list) and conversation
            for message in conversation:
                assert set(message) == {"role", "content"}, message
                assert message["role"] in {"system", "user", "assistant"}
        assert isinstance(sampling_params, list) and len(sampling_params) == len(messages)
        assert all(isinstance(p, FakeSamplingParams) for p in sampling_params)
        assert use_tqdm is False
        self.calls.append(len(messages))
        return [self._answer(c, p) for c, p in zip(messages, sampling_params, strict=True)]

    @staticmethod
    def _answer(conversation: list[dict[str, str]], params: FakeSamplingParams) -> Any:
        prompt = conversation[-1]["content"]
        if getattr(params, "logprobs", None):
            top = {
                n: types.SimpleNamespace(logprob=math.log(p), decoded_token=t)
                for n, (t, p) in enumerate([("B", 0.6), ("A", 0.3), ("C", 0.05), ("x", 0.05)])
            }
            out = types.SimpleNamespace(
                text="B", token_ids=[1], finish_reason="length", logprobs=[top]
            )
        else:
            words = f"answer to {prompt}".split()[: params.max_tokens]
            finish = "length" if len(words) == params.max_tokens else "stop"
            out = types.SimpleNamespace(
                text=" ".join(words), token_ids=list(range(len(words))), finish_reason=finish,
                logprobs=None,
            )  # fmt: skip
        return types.SimpleNamespace(prompt_token_ids=[0] * len(prompt.split()), outputs=[out])


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> type[FakeLLM]:
    module = types.ModuleType("vllm")
    module.LLM = FakeLLM  # type: ignore[attr-defined]
    module.SamplingParams = FakeSamplingParams  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", module)
    FakeLLM.instances = []
    return FakeLLM


def requests_for(teacher: Any, n: int, choices: tuple[str, ...] | None = None) -> list[ChatRequest]:
    sampling = SamplingParams(temperature=0.0, max_tokens=6)
    out = []
    for k in range(n):
        messages = (
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": f"q{k}"},
        )
        key = call_key(
            teacher.backend, teacher.model, messages, sampling.model_dump(), {"k": 1},
            endpoint=teacher.endpoint,
        )  # fmt: skip
        out.append(ChatRequest(key=key, messages=messages, sampling=sampling, choices=choices))
    return out


def test_answers_go_through_the_engine_in_windows_and_into_the_store(
    fake_vllm: type[FakeLLM], tmp_path: Path
) -> None:
    options = teacher_options(
        backend="vllm", window=4,
        engine_args={"tensor_parallel_size": 2, "max_model_len": 4096, "gpu_memory_utilization": 0.5},
    )  # fmt: skip
    teacher = build_teacher(options)
    batch = requests_for(teacher, 10)
    with RunStore(tmp_path / "store.sqlite") as store:
        stats = execute(teacher, store, batch, "respond")
        assert stats.ok == 10
        (engine,) = fake_vllm.instances
        assert engine.kwargs == {
            "tensor_parallel_size": 2, "max_model_len": 4096, "gpu_memory_utilization": 0.5,
        }  # fmt: skip
        assert engine.calls == [4, 4, 2]  # windows of 4, each one engine call
        result = store.get_many([batch[3].key])[batch[3].key]
        assert result.text == "answer to q3" and result.finish_reason == "stop"
        # Resumed: nothing is asked twice.
        assert execute(teacher, store, batch, "respond").ok == 0 and engine.calls == [4, 4, 2]


def test_grades_are_a_constrained_choice(fake_vllm: type[FakeLLM], tmp_path: Path) -> None:
    teacher = build_teacher(teacher_options(backend="vllm"))
    (completion,) = teacher.generate(requests_for(teacher, 1, choices=("A", "B", "C", "D")))
    assert completion.finish_reason == CHOICE
    import json

    distribution = json.loads(completion.text or "{}")
    assert max(distribution, key=distribution.get) == "B"
    assert sum(distribution.values()) == pytest.approx(1.0)


def test_without_vllm_the_run_stops_with_the_install_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # "not installed"
    teacher = build_teacher(teacher_options(backend="vllm"))
    with pytest.raises(TeacherFatalError, match=r"pip install 'herdsman\[vllm\]'"):
        teacher.generate(requests_for(teacher, 1))


def test_an_engine_that_cannot_start_is_one_line(
    fake_vllm: type[FakeLLM], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: FakeLLM, model: str, **kwargs: Any) -> None:
        raise ValueError("The model's max seq len (131072) is larger than the KV cache\nmore")

    monkeypatch.setattr(FakeLLM, "__init__", refuse)
    teacher = build_teacher(teacher_options(backend="vllm"))
    with pytest.raises(TeacherFatalError, match=r"max seq len \(131072\)") as caught:
        teacher.generate(requests_for(teacher, 1))
    assert "\n" not in str(caught.value)


def test_engine_settings_are_validated_in_configs_and_on_the_command_line(tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(
        "seeds: [{path: seeds.jsonl}]\nteacher:\n  backend: vllm\n"
        "  engine_args: {gpu_memory_utilization: 1.5}\n"
    )
    (tmp_path / "seeds.jsonl").write_text('{"instruction": "Say hi."}\n')
    with pytest.raises(
        InputError, match=r"run.yaml:4: teacher\.engine_args\.gpu_memory_utilization"
    ):
        load_config(config)
    config.write_text(
        "seeds: [{path: seeds.jsonl}]\nteacher: {backend: vllm, engine_args: {tensor_paralel: 2}}\n"
    )
    with pytest.raises(InputError, match="tensor_paralel: unknown key"):
        load_config(config)
    src = tmp_path / "in.jsonl"
    src.write_text('{"instruction": "Say hi."}\n')
    respond = ["respond", str(src), "-o", str(tmp_path / "o.jsonl"), "--teacher", "vllm"]
    assert_one_line_error(
        run_cli(*respond, "--engine-arg", "tensor_paralel=2"),
        "--engine-arg tensor_paralel: unknown setting",
    )
    assert_one_line_error(run_cli(*respond, "--engine-arg", "max_model_len"), "expected KEY=VALUE")


def test_ray_asks_each_vllm_actor_for_its_tensor_parallel_gpus() -> None:
    from herdsman.teachers.ray_pool import RayTeacher, check_resources

    teacher = build_teacher(
        teacher_options(backend="vllm", ray_address="local", ray_workers=2, window=5000,
                       engine_args={"tensor_parallel_size": 4})
    )  # fmt: skip
    assert isinstance(teacher, RayTeacher)
    assert teacher.gpus == 4.0 and teacher.chunk == 5000  # a vLLM window per task
    local = build_teacher(teacher_options(ray_address="local", ray_workers=2, batch_size=3))
    assert isinstance(local, RayTeacher)
    assert local.gpus == 0.0 and local.chunk == 3
    assert local._options["device"] == "cpu"  # never on cuda:0 without a GPU of its own
    check_resources({"CPU": 16.0, "GPU": 8.0}, 2, 1.0, 4.0)
    with pytest.raises(TeacherFatalError, match=r"need 12 GPUs .* the cluster has 8"):
        check_resources({"CPU": 16.0, "GPU": 8.0}, 3, 1.0, 4.0)
    with pytest.raises(TeacherFatalError, match=r"need 3 CPUs .* the cluster has 2"):
        check_resources({"CPU": 2.0}, 3, 1.0, 0.0)


def test_a_cached_hub_id_resolves_to_its_snapshot_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    from herdsman.teachers.local import resolve_model_path

    repo = tmp_path / "hub" / "models--acme--tiny-teacher"
    snapshot = repo / "snapshots" / "0123456789abcdef0123456789abcdef01234567"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text('{"model_type": "llama"}')
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(snapshot.name)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path, name = resolve_model_path("acme/tiny-teacher")
    assert path == snapshot and name == "acme/tiny-teacher"
    with pytest.raises(TeacherFatalError, match="not in the local Hugging Face cache"):
        resolve_model_path("acme/not-cached")
