"""Teacher calls on a local Ray cluster (2 CPU workers, embedded teacher) vs one process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from herdsman.errors import TeacherFatalError
from herdsman.generation.respond import RespondSettings, respond
from herdsman.records import SamplingParams
from herdsman.store.run_store import RunStore
from herdsman.teachers.factory import build_teacher
from herdsman.teachers.registry import teacher_options
from tests.conftest import require_data

pytestmark = pytest.mark.slow
SETTINGS = RespondSettings(sampling=SamplingParams(temperature=0.0, max_tokens=8))


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def instructions(path: Path, n: int) -> Path:
    rows = [json.loads(x) for x in require_data("self_instruct", "user_oriented_instructions.jsonl")
            .read_text().splitlines()[:n]]  # fmt: skip
    path.write_text("".join(json.dumps({"instruction": r["instruction"]}) + "\n" for r in rows))
    return path


def answers(path: Path) -> list[tuple[str, str, str]]:
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    return [(r["instruction"], r["response"], r["call_key"]) for r in rows]


def test_ray_workers_give_the_single_process_output_and_resume(
    ray_cluster: None, tmp_path: Path
) -> None:
    """respond and generate on Ray (one pool of workers for both): the single-process output."""
    src = instructions(tmp_path / "in.jsonl", 4)
    one = build_teacher(teacher_options(batch_size=2))
    with RunStore(tmp_path / "one.sqlite") as store:
        respond(one, store, src, tmp_path / "one.jsonl", SETTINGS)
    # Half of the calls already made by a single process: the Ray run makes only the rest.
    half = instructions(tmp_path / "half.jsonl", 2)
    on_ray = build_teacher(teacher_options(batch_size=1, ray_address="auto", ray_workers=2))
    assert (on_ray.backend, on_ray.model) == (one.backend, one.model)
    with RunStore(tmp_path / "ray.sqlite") as store:
        respond(one, store, half, tmp_path / "half_out.jsonl", SETTINGS)
        report = respond(on_ray, store, src, tmp_path / "ray.jsonl", SETTINGS)
        assert (report.calls.cached, report.calls.ok) == (2, 2)  # 2 chunks of 1, one per worker
        again = respond(on_ray, store, src, tmp_path / "ray.jsonl", SETTINGS)
        assert again.calls.ok == 0 and store.count() == 4
    assert answers(tmp_path / "ray.jsonl") == answers(tmp_path / "one.jsonl")
    generate_matches_one_process(one, on_ray, tmp_path)
    on_ray.close()
    one.close()


def generate_matches_one_process(one: Any, on_ray: Any, tmp_path: Path) -> None:
    from herdsman.generation.generate import GenerateSettings, generate
    from herdsman.generation.prompts import Planner
    from herdsman.generation.seeds import load_seeds

    seeds = list(load_seeds(require_data("self_instruct", "seed_tasks.jsonl"), "self-instruct"))
    settings = GenerateSettings(
        n=40, sampling=SamplingParams(temperature=0.0, max_tokens=48), wave=2, max_calls=2
    )
    outputs = []
    for name, teacher in (("gen-one", one), ("gen-ray", on_ray)):
        with RunStore(tmp_path / f"{name}.sqlite") as store:
            report = generate(teacher, store, Planner("example", seeds, seed=3), settings,
                              tmp_path / f"{name}.jsonl")  # fmt: skip
            rows = store._conn.execute("SELECT text FROM calls ORDER BY key").fetchall()
            replies = [text for (text,) in rows]
        assert report.calls_made == 2 and all(replies)
        outputs.append((replies, (tmp_path / f"{name}.jsonl").read_text()))
    assert outputs[0] == outputs[1]  # the teacher's replies and the kept instructions


def test_a_pool_the_cluster_cannot_place_and_a_dead_worker_are_one_line_errors(
    ray_cluster: None, tmp_path: Path
) -> None:
    import ray

    too_many = build_teacher(teacher_options(ray_address="auto", ray_workers=3))
    with pytest.raises(TeacherFatalError, match="3 Ray workers need 3 CPUs"):
        too_many.run(iter([]), _NoSink())
    src = instructions(tmp_path / "in.jsonl", 2)
    teacher = build_teacher(teacher_options(batch_size=1, ray_address="auto", ray_workers=1))
    teacher._start()  # type: ignore[attr-defined]
    ray.kill(teacher._actors[0])  # type: ignore[attr-defined]
    with (
        RunStore(tmp_path / "store.sqlite") as store,
        pytest.raises(TeacherFatalError, match="a Ray teacher worker failed"),
    ):
        respond(teacher, store, src, tmp_path / "out.jsonl", SETTINGS)
    teacher.close()


class _NoSink:
    def put(self, request: Any, completion: Any) -> None:
        raise AssertionError("nothing should be answered")

    def flush(self) -> None:
        pass


def test_openai_is_not_sent_to_ray() -> None:
    """Ray is a setting of the local and vllm backends only: the openai backend refuses it."""
    with pytest.raises(ValidationError, match="ray_address"):
        teacher_options(backend="openai", model="m", base_url="http://x", ray_address="local")
