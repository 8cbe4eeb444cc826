"""Dry-run estimates: no model is loaded or converted, figures follow the config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from herdsman.config import LoadedConfig, load_config
from herdsman.evaluate.answer_sheets import AnswerSheet, Item, read_answer_sheet
from herdsman.evaluate.evaluator import ANSWER_SHEET, TEACHER
from herdsman.io.bundled import bundled_file
from herdsman.pipeline.context import Context, eval_path
from herdsman.pipeline.dry_run import plan
from herdsman.pipeline.estimate import estimate
from herdsman.pipeline.stages.judge import judge_answers
from herdsman.store.run_store import RunStore
from herdsman.teachers.openai_http import OpenAISettings, OpenAITeacher
from herdsman.testing.stub_server import StubServer
from tests.conftest import run_cli


def test_local_dry_run_loads_no_model(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    config = tmp_path / "run.yaml"
    assert run_cli("init", str(config)).returncode == 0
    result = run_cli("run", str(config), "--dry-run", env={"HERDSMAN_CACHE": str(cache)})
    assert result.returncode == 0, result.stderr
    assert not cache.exists()  # the embedded teacher was neither converted nor loaded
    assert not (tmp_path / "run").exists()
    assert "~4 characters per token" in result.stderr
    assert "estimated teacher time" in result.stderr


def test_estimate_scales_with_the_config() -> None:
    small = load_config(bundled_file("demo.yaml"), {"run_dir": "/nonexistent-run"})
    big = load_config(
        bundled_file("demo.yaml"),
        {
            "run_dir": "/nonexistent-run",
            "generate": {"strategies": {"example": 80}, "max_calls": None},
        },
    )
    a = estimate(Context(loaded=small, run_dir=small.run_dir))
    b = estimate(Context(loaded=big, run_dir=big.run_dir))
    gen_a = {s.stage: s for s in a.stages}["generate (example)"]
    gen_b = {s.stage: s for s in b.stages}["generate (example)"]
    assert gen_b.calls > gen_a.calls
    cfg = big.config
    assert gen_b.completion_max == gen_b.calls * cfg.generate.sampling.max_tokens
    respond = {s.stage: s for s in b.stages}["respond"]
    topic = cfg.generate.strategies["topic"]
    assert respond.calls == 64 + 80 + topic  # originals + generated (the topic count stays)
    assert respond.completion_max == respond.calls * cfg.respond.sampling.max_tokens
    assert b.seconds_expected is not None and b.usd_expected is None
    # The demo selects its training data with the judge: one call per training pair.
    select = {s.stage: s for s in b.stages}["select (judge)"]
    assert select.calls == -(-respond.calls * (1 - cfg.dataset.held_out) // 1)
    assert select.completion_expected == select.calls  # one token per constrained grade
    off = load_config(
        bundled_file("demo.yaml"), {"run_dir": "/nonexistent-run", "select": {"enabled": False}}
    )
    assert "select (judge)" not in {s.stage for s in estimate(Context(off, off.run_dir)).stages}


def demo(tmp_path: Path, **overrides: object) -> LoadedConfig:
    return load_config(bundled_file("demo.yaml"), {"run_dir": str(tmp_path / "run"), **overrides})


def test_the_judge_is_counted_from_the_config() -> None:
    """The demo's herd by hand: 2 students, and 2 distinct bases (the pruned student's own cut
    of the teacher, the LoRA student's smollm2); 80 answers, half held out, the first 32 judged;
    each item's 4 answers and the teacher's reference graded, and 16 control items graded in 4
    new versions each (the fifth, the reference itself, is a stored call)."""
    loaded = load_config(bundled_file("demo.yaml"), {"run_dir": "/nonexistent-run"})
    judge = {s.stage: s for s in estimate(Context(loaded, loaded.run_dir)).stages}["judge"]
    assert judge.calls == 32 * (4 + 1) + 16 * 4
    pairwise = load_config(
        bundled_file("demo.yaml"),
        {"run_dir": "/nonexistent-run", "evaluation": {"judge": {"pairwise": True}}},
    )
    judge = {s.stage: s for s in estimate(Context(pairwise, pairwise.run_dir)).stages}["judge"]
    assert judge.calls == 32 * (4 + 1) + 16 * 4 + 32 * 4 * 3  # both orders of 6 pairs an item
    off = load_config(
        bundled_file("demo.yaml"),
        {"run_dir": "/nonexistent-run", "evaluation": {"judge": {"enabled": False}}},
    )
    assert "judge" not in {s.stage for s in estimate(Context(off, off.run_dir)).stages}


@pytest.mark.parametrize(("pairwise", "guided"), [(False, False), (True, True)])
def test_the_judge_count_is_what_the_judge_stage_makes(
    stub: StubServer, tmp_path: Path, pairwise: bool, guided: bool
) -> None:
    judging = {"pairwise": pairwise, "reference_guided": guided, "controls": 4}
    loaded = demo(tmp_path, evaluation={"judge": judging})
    ctx = Context(loaded, loaded.run_dir)
    sheet = AnswerSheet()
    for n in range(6):
        item = Item(f"item-{n}", f"Describe place number {n} in a few words.")
        for model in ("student", "student (base)", "other"):
            sheet.add(item, model, f"{model} says place {n} is quiet and green.")
        reference = f"Place {n} is a small town by a river with old stone bridges and a market."
        sheet.add(item, TEACHER, reference)
    path = eval_path(ctx, ANSWER_SHEET)
    path.parent.mkdir(parents=True)
    path.write_text(
        "".join(
            json.dumps({"id": i.id, "instruction": i.instruction, "model": m, "answer": a}) + "\n"
            for i in sheet.items
            for m, a in sheet.answers[i.id].items()
        )
    )
    planned = {s.stage: s for s in estimate(ctx, only={"judge"}).stages}["judge"]
    teacher = OpenAITeacher("stub", None, OpenAISettings(base_url=stub.url, max_retries=0))
    with RunStore(tmp_path / "store.sqlite") as store:
        result = judge_answers(
            read_answer_sheet([path]), teacher, store, loaded.config.evaluation.judge
        )
    made = result["calls"]["ok"] + result["calls"]["failed"]
    assert made == planned.calls == stub.state.requests
    assert planned.calls == 6 * 4 + 4 * 4 + (6 * 3 * 2 if pairwise else 0)


def openai_config(tmp_path: Path, teacher: str) -> Path:
    (tmp_path / "in.jsonl").write_text(
        "".join(json.dumps({"instruction": f"Say {w}.", "output": "Fine."}) + "\n" for w in "abc")
    )
    config = tmp_path / "run.yaml"
    config.write_text(
        "seeds:\n  - path: in.jsonl\n    format: jsonl\n"
        "generate:\n  strategies: {example: 6}\n"
        "teacher:\n  backend: openai\n  model: served\n  base_url: http://127.0.0.1:9/v1\n"
        + teacher
    )
    return config


def test_a_server_with_a_speed_gets_a_time_and_no_invented_cost(tmp_path: Path) -> None:
    config = openai_config(tmp_path, "  tokens_per_second: 400\n")
    est = estimate(Context(load_config(config), tmp_path / "run"))
    assert est.usd_expected is None and est.seconds_expected is not None
    assert est.seconds_expected == pytest.approx(est.completion_expected / 400)
    assert est.seconds_max == pytest.approx(est.completion_max / 400)
    unset = openai_config(tmp_path, "")
    assert estimate(Context(load_config(unset), tmp_path / "run")).seconds_expected is None
    batch = openai_config(tmp_path, "  tokens_per_second: 400\n  batch_api: true\n")
    est = estimate(Context(load_config(batch), tmp_path / "run"))
    respond = {s.stage: s for s in est.stages}["respond"]
    assert est.seconds_max == pytest.approx((est.completion_max - respond.completion_max) / 400)
    assert "Batch API" in est.time_note


def test_the_dry_run_ends_with_one_total(tmp_path: Path) -> None:
    config = openai_config(tmp_path, "  tokens_per_second: 400\n")
    _, est = plan(load_config(config))
    result = run_cli("run", str(config), "--dry-run")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stderr.split())
    assert est.calls == sum(s.calls for s in est.stages) > 0
    assert (
        f"total: {est.calls:,} teacher calls, {est.prompt_tokens:,} prompt tokens, "
        f"{est.completion_expected:,} completion tokens (≤ {est.completion_max:,})"
    ) in text
    assert "estimated teacher time:" in text and "at 400 generated tokens/s" in text
    assert "estimated cost: unknown" in text and "; cost unknown" in text
    unset = run_cli("run", str(openai_config(tmp_path, "")), "--dry-run")
    assert "estimated teacher time: unknown" in " ".join(unset.stderr.split())
