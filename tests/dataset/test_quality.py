"""The answer-quality gate on real answers: loops, cuts, echoes, refusals, other languages."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from herdsman.dataset.quality import QualitySettings, failed_rule, gate, repetition_score
from herdsman.errors import HerdsmanError
from herdsman.records import render_instruction
from tests.conftest import assert_one_line_error, require_data, run_cli

ALL = QualitySettings()
#: What the embedded teacher wrote under greedy decoding without a repetition penalty.
LOOP = "A lone wolf, a lone wolf, a lone wolf, a lone wolf, a lone wolf, a lone wolf, a lone wolf,"


def predictions(model: str) -> list[dict[str, str]]:
    path = require_data("self_instruct", "predictions", f"{model}_predictions.jsonl")
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    return [
        {"instruction": render_instruction(r["instruction"], r.get("input") or ""),
         "response": r["response"]}
        for r in rows
    ]  # fmt: skip


def test_real_models_loops_are_caught_and_good_answers_kept() -> None:
    raw = Counter(failed_rule(r, ALL) for r in predictions("davinci"))
    tuned = Counter(failed_rule(r, ALL) for r in predictions("text-davinci-003"))
    # GPT-3 davinci without instruction tuning runs on past its answer and loops.
    assert raw["repetition"] >= 240
    # text-davinci-003's answers (lists, tables, code included) nearly all pass.
    assert tuned[None] >= 248
    assert repetition_score(LOOP) > 0.8 and failed_rule({"response": LOOP}, ALL) == "repetition"


@pytest.mark.parametrize(
    ("row", "rule"),
    [
        ({"instruction": "Say hi.", "response": "   \n"}, "empty"),
        ({"instruction": "List fruits.", "response": "Apple, pear and", "finish_reason": "length"},
         "truncated"),
        ({"instruction": "Rewrite the sentence to be shorter.",
          "response": "Rewrite the sentence to be shorter."}, "echo"),
        ({"instruction": "Tell me a joke.",
          "response": "As an AI language model, I cannot tell jokes."}, "refusal"),
        ({"instruction": "Give three tips for staying healthy this winter.",
          "response": "Mangez des légumes, dormez bien et faites du sport chaque jour."}, "language"),
        ({"instruction": "Translate to French: Eat vegetables and sleep well every day.",
          "response": "Mangez des légumes et dormez bien chaque jour."}, None),
        ({"instruction": "Explain what this French text says.\n\nMangez des légumes et dormez bien.",
          "response": "Mangez des légumes: mangez des légumes et dormez bien, c'est simple."}, None),
        ({"instruction": "List three colours.", "response": "1. Red\n2. Green\n3. Blue"}, None),
    ],
)  # fmt: skip
def test_each_rule_and_its_exemptions(row: dict[str, str], rule: str | None) -> None:
    assert failed_rule(row, ALL) == rule
    if rule is not None:  # and every rule can be switched off
        off = QualitySettings(rules=ALL.rules - {rule})
        assert failed_rule(row, off) != rule


def write(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_gate_keeps_order_and_lists_what_it_removed(tmp_path: Path) -> None:
    rows = [*predictions("text-davinci-003")[:30], {"instruction": "Poem.", "response": LOOP}]
    src = write(tmp_path / "responses.jsonl", rows)
    report = gate(src, tmp_path / "answers.jsonl", tmp_path / "removed.jsonl", ALL)
    kept = [json.loads(x) for x in (tmp_path / "answers.jsonl").read_text().splitlines()]
    removed = [json.loads(x) for x in (tmp_path / "removed.jsonl").read_text().splitlines()]
    assert kept == [r for r in rows if failed_rule(r, ALL) is None]
    assert removed[-1] == {"line": 31, "rule": "repetition", **rows[-1]}
    assert report.answers == 31 and report.kept == len(kept) and report.removed["repetition"] >= 1


def test_a_gate_that_removes_everything_stops_and_writes_nothing(tmp_path: Path) -> None:
    src = write(tmp_path / "responses.jsonl", [{"instruction": "Poem.", "response": LOOP}] * 3)
    out = tmp_path / "answers.jsonl"
    out.write_text("previous\n")
    with pytest.raises(HerdsmanError, match="removed all 3 answers"):
        gate(src, out, tmp_path / "removed.jsonl", ALL)
    assert out.read_text() == "previous\n"


def test_cli(tmp_path: Path) -> None:
    src = write(tmp_path / "r.jsonl", [{"instruction": "Poem.", "response": LOOP},
                                        {"instruction": "Say hi.", "response": "Hi!"}])  # fmt: skip
    out = tmp_path / "clean.jsonl"
    done = run_cli("quality", str(src), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert [json.loads(x)["response"] for x in out.read_text().splitlines()] == ["Hi!"]
    assert "repetition: 1" in done.stdout + done.stderr
    assert json.loads((tmp_path / "clean.jsonl.removed.jsonl").read_text())["rule"] == "repetition"
    kept_all = run_cli("quality", str(src), "-o", str(out), "--no-rule", "repetition")
    assert kept_all.returncode == 0 and len(out.read_text().splitlines()) == 2
    assert_one_line_error(run_cli("quality", str(src), "-o", str(out), "--no-rule", "loops"),
                          "--no-rule", "loops")  # fmt: skip
