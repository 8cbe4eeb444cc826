"""Generation end to end against the loopback teacher: counts, resume, filters, failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from herdsman.generation.generate import GenerateSettings, generate
from herdsman.generation.prompts import Planner
from herdsman.generation.seeds import load_seeds
from herdsman.records import Seed
from herdsman.store.run_store import RunStore
from herdsman.teachers.openai_http import OpenAISettings, OpenAITeacher
from herdsman.testing.stub_server import StubServer
from tests.conftest import assert_one_line_error, require_data, run_cli


def teacher(url: str) -> OpenAITeacher:
    return OpenAITeacher("stub", None, OpenAISettings(base_url=url, concurrency=8, max_retries=0))


@pytest.fixture(scope="module")
def seeds() -> list[Seed]:
    return list(load_seeds(require_data("self_instruct", "seed_tasks.jsonl")))


def read(path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_example_guided_generation_keeps_n_with_provenance(
    stub: StubServer, seeds: list[Seed], tmp_path: Path
) -> None:
    out = tmp_path / "gen.jsonl"
    with RunStore(tmp_path / "s.sqlite") as store:
        report = generate(
            teacher(stub.url), store, Planner("example", seeds), GenerateSettings(n=50, wave=4), out
        )
    rows = read(out)
    assert report.reached and report.kept == 50 and len(rows) == 50
    assert report.calls == 3 and report.parsed == 60  # 20 asked per call, stub gives 20
    assert report.filtered["unsuitable"] > 0  # the stub's vocabulary contains "music"
    first = rows[0]
    assert (
        first["instruction_source"] == "self_instruct_without_topic"
        and first["strategy"] == "example"
    )
    assert len(first["seed_ids"]) == 3 and str(first["seed_ids"][0]).startswith("self-instruct:")  # type: ignore[index]
    assert (
        first["template_version"] == "lamini-v1"
        and first["call_key"]
        and first["teacher"] == "openai"
    )
    assert len({r["id"] for r in rows}) == 50


def test_rerun_replays_from_the_store_and_gives_the_same_output(
    stub: StubServer, seeds: list[Seed], tmp_path: Path
) -> None:
    out = tmp_path / "gen.jsonl"
    settings = GenerateSettings(n=30, wave=4)
    with RunStore(tmp_path / "s.sqlite") as store:
        generate(teacher(stub.url), store, Planner("example", seeds), settings, out)
        first, calls = out.read_bytes(), stub.state.requests
        again = generate(teacher(stub.url), store, Planner("example", seeds), settings, out)
    assert stub.state.requests == calls and again.calls_made == 0 and again.calls_cached > 0
    assert [r["instruction"] for r in read(out)] == [
        json.loads(x)["instruction"] for x in first.splitlines()
    ]


def test_topic_guided_generation(stub: StubServer, seeds: list[Seed], tmp_path: Path) -> None:
    out = tmp_path / "topic.jsonl"
    planner = Planner("topic", seeds, topics=["Jazz", "Volcanoes", "Chess", "Tea"])
    with RunStore(tmp_path / "s.sqlite") as store:
        report = generate(teacher(stub.url), store, planner, GenerateSettings(n=10, wave=2), out)
    rows = read(out)
    assert report.kept == 10 and all(
        r["instruction_source"] == "self_instruct_with_topic" for r in rows
    )
    assert all(len(r["topics"]) == 3 for r in rows)  # type: ignore[arg-type]


def test_p3_generation_is_labelled_generated_p3(stub: StubServer, tmp_path: Path) -> None:
    p3 = list(load_seeds(require_data("p3_templates", "ag_news_classify.jsonl")))
    with RunStore(tmp_path / "s.sqlite") as store:
        report = generate(
            teacher(stub.url),
            store,
            Planner("example", p3),
            GenerateSettings(n=5, wave=1),
            tmp_path / "g.jsonl",
        )
    rows = read(tmp_path / "g.jsonl")
    assert report.kept == 5 and {r["instruction_source"] for r in rows} == {"generated_p3"}
    assert {r["subset"] for r in rows} == {"ag_news_classify"}


def test_teacher_that_returns_nothing_parseable_is_reported(
    seeds: list[Seed], tmp_path: Path
) -> None:
    with StubServer(refuse_generation=True) as server, RunStore(tmp_path / "s.sqlite") as store:
        report = generate(
            teacher(server.url),
            store,
            Planner("example", seeds),
            GenerateSettings(n=10, wave=2),
            tmp_path / "g.jsonl",
        )
        assert store.totals(stage="generate").ok == 4  # every call recorded
    assert not report.reached and report.kept == 0
    assert report.calls == 4 and report.calls_empty == 4  # gave up after two empty waves
    assert read(tmp_path / "g.jsonl") == []


def test_cli_generate_and_then_respond(tmp_path: Path) -> None:
    seeds_path = tmp_path / "seeds.jsonl"
    assert (
        run_cli(
            "seeds", str(require_data("self_instruct", "seed_tasks.jsonl")), "-o", str(seeds_path)
        ).returncode
        == 0
    )
    topics = tmp_path / "topics.txt"
    topics.write_text("Jazz\nVolcanoes\nChess\nTea\n")
    with StubServer() as server:
        common = [
            "--teacher",
            "openai",
            "--model",
            "stub",
            "--base-url",
            server.url,
            "--concurrency",
            "4",
        ]
        result = run_cli(
            "generate",
            "--strategy",
            "topic",
            "--seeds",
            str(seeds_path),
            "--topics",
            str(topics),
            "-n",
            "12",
            "-o",
            str(tmp_path / "gen.jsonl"),
            *common,
        )
        assert result.returncode == 0, result.stderr
        assert "filters removed" in result.stderr and "wrote 12 instructions" in result.stderr
        answered = run_cli(
            "respond", str(tmp_path / "gen.jsonl"), "-o", str(tmp_path / "lamini.jsonl"), *common
        )
        assert answered.returncode == 0, answered.stderr
    rows = read(tmp_path / "lamini.jsonl")
    assert len(rows) == 12 and all(
        r["instruction_source"] == "self_instruct_with_topic" and r["topics"] for r in rows
    )


def test_cli_generate_user_errors(tmp_path: Path) -> None:
    seeds_path = tmp_path / "seeds.jsonl"
    seeds_path.write_text('{"instruction": "Only one seed"}\n')
    base = ["generate", "--seeds", str(seeds_path), "-n", "5", "-o", str(tmp_path / "g.jsonl")]
    assert_one_line_error(run_cli(*base, "--strategy", "example"), "at least 3 seeds")
    assert_one_line_error(run_cli(*base, "--strategy", "sideways"), "--strategy")
    empty = tmp_path / "topics.txt"
    empty.write_text("\n")
    assert_one_line_error(
        run_cli(*base, "--strategy", "topic", "--topics", str(empty)), "no topics"
    )
    assert_one_line_error(
        run_cli(*base, "--strategy", "example", "--no-filter", "bogus"), "unknown filter"
    )


def test_the_lsh_check_keeps_what_the_exact_check_keeps(
    stub: StubServer, tmp_path: Path, seeds: list[Seed]
) -> None:
    """generate --dedup-method lsh: the same instructions as the exact rule on the stub's replies."""
    outs = {}
    for method in ("exact", "lsh"):
        out = tmp_path / f"{method}.jsonl"
        with RunStore(tmp_path / "store.sqlite") as store:  # one store: the same replies
            report = generate(
                teacher(stub.url), store, Planner("example", seeds),
                GenerateSettings(n=120, wave=4, dedup_method=method), out,
            )  # fmt: skip
        assert report.kept == 120
        outs[method] = [r["instruction"] for r in read(out)]
    assert outs["lsh"] == outs["exact"]
