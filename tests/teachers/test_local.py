"""The local transformers backend on the embedded SmolLM2-135M-Instruct (real weights, CPU)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from herdsman.errors import TeacherFatalError
from herdsman.generation.respond import respond
from herdsman.records import SamplingParams
from herdsman.store.run_store import RunStore
from herdsman.teachers.base import ChatRequest, Completion
from herdsman.teachers.local import LocalTeacher, resolve_model_path

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def teacher() -> Iterator[LocalTeacher]:
    t = LocalTeacher(None, batch_size=4)
    t.load()
    yield t
    t.close()


def chat(i: int, content: str, max_tokens: int = 12) -> ChatRequest:
    return ChatRequest(
        key=f"k{i}",
        messages=({"role": "user", "content": content},),
        sampling=SamplingParams(max_tokens=max_tokens),
    )


class Sink:
    def __init__(self) -> None:
        self.order: list[str] = []
        self.got: dict[str, Completion] = {}
        self.flushes = 0

    def put(self, request: ChatRequest, completion: Completion) -> None:
        self.order.append(request.key)
        self.got[request.key] = completion

    def flush(self) -> None:
        self.flushes += 1


def test_embedded_teacher_resolves_to_a_converted_plain_folder() -> None:
    path, name = resolve_model_path(None)
    assert name == "smollm2-135m-instruct"
    config = json.loads((path / "config.json").read_text())
    assert "quantization_config" not in config  # the GGUF flags were dropped before saving
    assert (path / "model.safetensors").is_file()


def test_batched_answers_match_one_at_a_time(teacher: LocalTeacher) -> None:
    prompts = [
        "What is the capital of France?",
        "2+2?",
        "Name a primary colour.",
        "Translate 'cat' into French.",
    ]
    requests = [chat(i, p) for i, p in enumerate(prompts)]
    batched = teacher.generate(requests)
    single = [teacher.generate([r])[0] for r in requests]
    assert [b.text for b in batched] == [s.text for s in single]
    assert "Paris" in (batched[0].text or "")
    assert all(b.completion_tokens and b.prompt_tokens for b in batched)


def test_finish_reason_length_when_cut(teacher: LocalTeacher) -> None:
    [long] = teacher.generate([chat(0, "Write a long story about a dragon.", max_tokens=5)])
    assert long.ok and long.finish_reason == "length" and long.completion_tokens == 5
    [short] = teacher.generate(
        [chat(1, "What is the capital of France? Answer in one word.", max_tokens=40)]
    )
    assert short.finish_reason == "stop" and (short.completion_tokens or 0) < 40


def test_run_sorts_by_length_but_reports_every_request_once(teacher: LocalTeacher) -> None:
    contents = [
        "Hi",
        "Explain in detail how a bicycle gear system works and why it helps.",
        "Name a fruit.",
        "What is 3 times 7?",
        "Say yes.",
    ]
    sink = Sink()
    teacher.run([chat(i, c, max_tokens=4) for i, c in enumerate(contents)], sink)
    assert sorted(sink.order) == [f"k{i}" for i in range(5)]
    assert sink.order != [f"k{i}" for i in range(5)]  # batched by length, not input order
    assert sink.flushes == 2  # batch size 4: two batches, each flushed
    assert all(c.ok for c in sink.got.values())


def test_respond_with_local_teacher_is_resumable(teacher: LocalTeacher, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(
        "".join(json.dumps({"instruction": q}) + "\n" for q in ["Name a colour.", "What is 1+1?"])
    )
    from herdsman.generation.respond import RespondSettings

    settings = RespondSettings(sampling=SamplingParams(max_tokens=8))
    with RunStore(tmp_path / "store.sqlite") as store:
        first = respond(teacher, store, src, tmp_path / "out.jsonl", settings)
        second = respond(teacher, store, src, tmp_path / "out.jsonl", settings)
    assert first.calls.ok == 2 and second.calls.ok == 0 and second.calls.cached == 2
    rows = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["teacher"] for r in rows] == ["local", "local"] and all(r["response"] for r in rows)


def test_missing_and_non_model_paths_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(TeacherFatalError, match="does not exist"):
        LocalTeacher(str(tmp_path / "nope"))
    (tmp_path / "folder").mkdir()
    with pytest.raises(TeacherFatalError, match=r"no config\.json"):
        LocalTeacher(str(tmp_path / "folder"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    with pytest.raises(TeacherFatalError, match="cannot load model"):
        LocalTeacher(str(broken)).load()


def test_a_local_folder_by_path_works(teacher: LocalTeacher) -> None:
    other = LocalTeacher(str(teacher.path), batch_size=2)
    assert other.model == str(teacher.path)
    [answer] = other.generate([chat(0, "2+2?", max_tokens=6)])
    assert answer.ok
