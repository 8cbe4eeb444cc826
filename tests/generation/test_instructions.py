"""Every command that answers or judges instructions reads what ``herdsman seeds`` reads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from herdsman.errors import InputError
from herdsman.evaluate.evaluator import read_instruction_items
from herdsman.generation.instructions import read_instructions
from herdsman.io.jsonl import BadLines
from herdsman.records import render_instruction
from herdsman.testing.stub_server import StubServer, echo_answer
from tests.conftest import assert_one_line_error, require_data, run_cli


def instances(path: Path) -> list[tuple[str, str]]:
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return [(r["instruction"], i.get("input", "")) for r in rows for i in r["instances"]]


def test_self_instruct_instances_keep_their_input() -> None:
    path = require_data("self_instruct", "user_oriented_instructions.jsonl")
    got = list(read_instructions(path, "auto", "custom", False, BadLines()))
    assert [(g.instruction, g.input) for g in got] == instances(path)
    assert sum(1 for g in got if g.input) > 100  # most of them have one
    items = read_instruction_items(path)  # what the judge and the rating app read
    assert [(i.instruction, i.input) for i in items] == [
        (a.strip(), b.strip()) for a, b in instances(path)
    ]


def test_respond_answers_the_instruction_with_its_input(stub: StubServer, tmp_path: Path) -> None:
    src = tmp_path / "user_oriented.jsonl"
    src.write_text("".join(require_data("self_instruct", "user_oriented_instructions.jsonl")
                           .read_text().splitlines(keepends=True)[:20]))  # fmt: skip
    out = tmp_path / "out.jsonl"
    result = run_cli(
        "respond", str(src), "-o", str(out), "--teacher", "openai", "--model", "stub",
        "--base-url", stub.url,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    expected = [render_instruction(a, b) for a, b in instances(src)]
    assert [r["response"] for r in rows] == [echo_answer(e) for e in expected]
    assert any("\n\n" in e for e in expected)  # inputs were really there to keep
    assert {r["instruction_source"] for r in rows} == {"self_instruct_without_topic"}


def test_respond_reads_alpaca_and_a_p3_folder(stub: StubServer, tmp_path: Path) -> None:
    alpaca = tmp_path / "alpaca.json"
    records = json.loads(require_data("alpaca", "alpaca_5000.json").read_text())[:6]
    alpaca.write_text(json.dumps(records))
    p3 = tmp_path / "p3"
    p3.mkdir()
    for name in sorted(p.name for p in require_data("p3_templates").glob("*.jsonl"))[:2]:
        lines = require_data("p3_templates", name).read_text().splitlines(keepends=True)[:3]
        (p3 / name).write_text("".join(lines))
    for src, n in ((alpaca, 6), (p3, sum(len(f.read_text().splitlines()) for f in p3.iterdir()))):
        out = tmp_path / f"{src.stem}.out.jsonl"
        result = run_cli("respond", str(src), "-o", str(out), "--teacher", "openai",
                         "--model", "stub", "--base-url", stub.url)  # fmt: skip
        assert result.returncode == 0, result.stderr
        rows = [json.loads(x) for x in out.read_text().splitlines()]
        assert len(rows) == n
    alpaca_rows = [json.loads(x) for x in (tmp_path / "alpaca.out.jsonl").read_text().splitlines()]
    assert [r["response"] for r in alpaca_rows] == [
        echo_answer(render_instruction(r["instruction"], r["input"])) for r in records
    ]


def test_a_field_that_would_be_ignored_is_refused(tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(
        json.dumps({"instruction": "Say hi."})
        + "\n"
        + json.dumps({"instruction": "Fix this sentence.", "instances": [{"input": "i has cat"}]})
        + "\n"
    )
    with pytest.raises(InputError, match=r"mixed\.jsonl:2: field 'instances' would be ignored"):
        list(read_instructions(mixed, "auto", "custom", False, BadLines()))
    result = run_cli("respond", str(mixed), "-o", str(tmp_path / "o.jsonl"))
    assert_one_line_error(result, f"{mixed}:2", "instances")
    assert not (tmp_path / "o.jsonl").exists()


def test_dedup_keeps_every_field_in_every_format(tmp_path: Path) -> None:
    records = json.loads(require_data("alpaca", "alpaca_5000.json").read_text())[:50]
    records.append(dict(records[3]))  # an exact duplicate
    alpaca = tmp_path / "alpaca.json"
    alpaca.write_text(json.dumps(records))
    out = tmp_path / "unique.json"
    result = run_cli("dedup", str(alpaca), "-o", str(out))
    assert result.returncode == 0, result.stderr
    kept = json.loads(out.read_text())  # an array in, an array out, inputs and all
    assert kept[:10] == records[:10] and records[3] in kept and len(kept) <= 50
    p3_file = next(
        p for p in sorted(require_data("p3_templates").glob("*.jsonl")) if p.stat().st_size
    )
    p3 = tmp_path / p3_file.name
    shutil.copy(p3_file, p3)
    result = run_cli("dedup", str(p3), "-o", str(tmp_path / "p3.out.jsonl"))
    assert result.returncode == 0, result.stderr  # compares 'prompt', no 'instruction' needed
    folder = run_cli("dedup", str(require_data("p3_templates")), "-o", str(tmp_path / "x.jsonl"))
    assert_one_line_error(folder, "a folder")
