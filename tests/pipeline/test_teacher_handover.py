"""The teacher leaves memory before the stages that need it (IFD scoring, training, evaluation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from herdsman.config import load_config
from herdsman.pipeline import context, training
from herdsman.pipeline.runner import run_pipeline
from herdsman.selection import ifd
from herdsman.testing.stub_server import StubServer
from tests.helpers.tiny_models import tiny_t5
from tests.pipeline.test_runner import make_project

HERD = """\
students:
  - {{name: tiny-t5, base: {base}, batch_size: 4, per_device_batch_size: 4,
     max_length: 96, max_steps: 2}}
select: {{enabled: true, fraction: 0.5}}
evaluation:
  tasks: [herdsman_sentiment]
  limit: 2
  bases: false
  imitation_items: 4
  max_new_tokens: 4
  judge: {{max_items: 4}}
"""


def test_the_teacher_is_released_before_scoring_and_training_and_rebuilt_to_judge(
    stub: StubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_project(tmp_path, stub.url)
    config.write_text(config.read_text() + HERD.format(base=tiny_t5(tmp_path / "t5")))
    events: list[str] = []
    open_teachers: list[Any] = []
    build = context.build_teacher

    def traced_build(options: Any) -> Any:
        teacher = build(options)
        close = teacher.close

        def traced_close() -> None:
            if teacher in open_teachers:
                open_teachers.remove(teacher)
                events.append("close")
            close()

        teacher.close = traced_close  # type: ignore[method-assign]
        open_teachers.append(teacher)
        events.append("build")
        return teacher

    def when(name: str, real: Any) -> Any:
        def traced(*args: Any, **kwargs: Any) -> Any:
            events.append(f"{name} (teachers open: {len(open_teachers)})")
            return real(*args, **kwargs)

        return traced

    monkeypatch.setattr(context, "build_teacher", traced_build)
    monkeypatch.setattr(training, "train_or_reuse", when("train", training.train_or_reuse))
    monkeypatch.setattr(ifd.IfdScorer, "score_batch", when("ifd", ifd.IfdScorer.score_batch))
    result = run_pipeline(load_config(config))
    assert {o.name: o.status for o in result.outcomes}["judge"] == "ran"
    # Nothing that needs the accelerator ran beside a resident teacher.
    assert not [e for e in events if "teachers open" in e and "open: 0" not in e], events
    assert "train (teachers open: 0)" in events
    assert any(e.startswith("ifd") for e in events)
    # Built for generation, released before IFD, built again for the select stage's
    # judge, released before training, built again for the judge stage, closed at the end.
    assert events[0] == "build" and events[-1] == "close"
    assert events.count("build") == 3 and events.count("close") == 3, events
    first_train = events.index("train (teachers open: 0)")
    assert "build" in events[first_train:]  # the judge stage got a fresh teacher
