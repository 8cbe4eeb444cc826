from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from rouge_score import rouge_scorer
from rouge_score.rouge_scorer import _lcs_table, _score_lcs

from herdsman.generation.dedup import dedup_texts, lcs_length, normalise, rouge_l_f, rouge_tokens
from tests.conftest import assert_one_line_error, require_data, run_cli

pytestmark = pytest.mark.numeric  # run again under the other BLAS kernel by `make test`


def exhaustive(texts: list[str], threshold: float = 0.7) -> list[bool]:
    tokens = [rouge_tokens(t) for t in texts]
    kept: list[int] = []
    exact: set[str] = set()
    flags = []
    for i, text in enumerate(texts):
        if normalise(text) in exact:
            flags.append(False)
            continue
        dup = any(_score_lcs(tokens[j], tokens[i]).fmeasure > threshold for j in kept)
        flags.append(not dup)
        if not dup:
            kept.append(i)
            exact.add(normalise(text))
    return flags


def perturbed(base: list[str], seed: int) -> list[str]:
    rnd = random.Random(seed)
    texts = []
    for text in base:
        texts.append(text)
        for _ in range(3):
            words = text.split()
            for _ in range(rnd.randint(0, 4)):
                op = rnd.random()
                if op < 0.4 and words:
                    del words[rnd.randrange(len(words))]
                elif op < 0.7:
                    words.insert(
                        rnd.randrange(len(words) + 1), rnd.choice(["the", "very", "new", "a"])
                    )
                elif words:
                    words[rnd.randrange(len(words))] = rnd.choice(["cat", "dog", "quick"])
            texts.append(" ".join(words))
    rnd.shuffle(texts)
    return texts


def test_lcs_matches_rouge_score() -> None:
    rnd = random.Random(0)
    for _ in range(500):
        a = [rnd.choice("abcde") for _ in range(rnd.randint(0, 25))]
        b = [rnd.choice("abcde") for _ in range(rnd.randint(0, 25))]
        assert lcs_length(a, b) == (_lcs_table(a, b)[-1][-1] if a and b else 0)


def test_f_measure_is_bit_identical_to_rouge_score() -> None:
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    texts = [
        r["instruction"] for r in json.loads(require_data("alpaca", "alpaca_5000.json").read_text())
    ][:200]
    rnd = random.Random(1)
    for _ in range(500):
        x, y = rnd.choice(texts), rnd.choice(texts)
        tx, ty = rouge_tokens(x), rouge_tokens(y)
        assert (
            rouge_l_f(lcs_length(tx, ty), len(tx), len(ty)) == scorer.score(x, y)["rougeL"].fmeasure
        )


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.9])
def test_decisions_equal_the_exhaustive_rule_on_near_duplicate_heavy_data(threshold: float) -> None:
    base = [
        r["instruction"] for r in json.loads(require_data("alpaca", "alpaca_5000.json").read_text())
    ][:150]
    texts = perturbed(base, seed=int(threshold * 10))
    decisions, stats = dedup_texts(texts, threshold)
    assert [d.kept for d in decisions] == exhaustive(texts, threshold)
    assert stats.near > 50 and stats.kept < len(texts)


def test_exact_duplicates_go_first_and_decisions_name_the_match() -> None:
    texts = [
        "Write a poem about the sea.",
        "write a  poem about the sea.",
        "Write a short poem about the sea.",
        "Name a river.",
    ]
    decisions, stats = dedup_texts(texts)
    assert [d.kept for d in decisions] == [True, False, False, True]
    assert decisions[1].reason == "exact" and decisions[1].match == 0
    assert (
        decisions[2].reason == "near"
        and decisions[2].match == 0
        and (decisions[2].score or 0) > 0.7
    )
    assert (stats.exact, stats.near, stats.kept) == (1, 1, 2)


def test_texts_without_tokens_are_never_near_duplicates() -> None:
    decisions, _ = dedup_texts(["你好世界", "こんにちは", "你好世界"])
    assert [d.kept for d in decisions] == [True, True, False]  # only the exact repeat goes


def test_cli_dedup_on_real_alpaca_records(tmp_path: Path) -> None:
    rows = json.loads(require_data("alpaca", "alpaca_5000.json").read_text())[:300]
    rows += [dict(rows[5]), {**rows[7], "instruction": rows[7]["instruction"] + " Please."}]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out, dropped = tmp_path / "out.jsonl", tmp_path / "dropped.jsonl"
    result = run_cli("dedup", str(src), "-o", str(out), "--dropped", str(dropped))
    assert result.returncode == 0, result.stderr
    kept = [json.loads(x) for x in out.read_text().splitlines()]
    assert kept[:5] == rows[:5]  # records pass through unchanged, in order
    flags = exhaustive([r["instruction"] for r in rows])
    assert kept == [r for r, keep in zip(rows, flags, strict=True) if keep]  # the same records
    reasons = [json.loads(x) for x in dropped.read_text().splitlines()]
    assert {k: reasons[-2][k] for k in ("line", "reason", "duplicate_of_line")} == {
        "line": 301,
        "reason": "exact",
        "duplicate_of_line": 6,
    }
    assert {k: reasons[-1][k] for k in ("line", "reason", "duplicate_of_line")} == {
        "line": 302,
        "reason": "near",
        "duplicate_of_line": 8,
    }


def test_cli_dedup_bad_input(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"instruction": "ok"}\n{"text": "no instruction"}\n')
    out = tmp_path / "out.jsonl"
    assert_one_line_error(
        run_cli("dedup", str(src), "-o", str(out)), "in.jsonl:2", "missing field 'instruction'"
    )
    assert not out.exists()
    ok = run_cli("dedup", str(src), "-o", str(out), "--skip-bad")
    assert ok.returncode == 0 and len(out.read_text().splitlines()) == 1
