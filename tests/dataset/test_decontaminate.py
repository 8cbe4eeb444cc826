"""Decontamination: word n-gram overlap with evaluation items, on real benchmark-like text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from herdsman.dataset.decontaminate import ContaminationIndex, eval_items, words
from herdsman.errors import InputError
from tests.conftest import require_data


def predictions() -> list[dict]:
    path = require_data("self_instruct", "predictions", "text-davinci-003_predictions.jsonl")
    return [json.loads(line) for line in path.open()]


def test_words_ignore_case_and_punctuation() -> None:
    assert words("Hello, World! It's 2026_x.") == ["hello", "world", "it", "s", "2026", "x"]


def test_thirteen_gram_overlap_is_found_and_twelve_is_not() -> None:
    item = " ".join(f"w{i}" for i in range(30))
    index = ContaminationIndex(n=13)
    index.add("bench:1", item)
    inside = "Please rewrite: " + " ".join(f"W{i}," for i in range(5, 18)) + " thanks"
    assert index.match(inside) == "bench:1"
    short = " ".join(f"w{i}" for i in range(5, 17))  # 12 words only
    assert index.match(short) is None


def test_short_items_count_whole_when_long_enough() -> None:
    index = ContaminationIndex(n=13, min_words=8)
    index.add("q:1", "What is the capital city of the country Peru?")  # 9 words
    index.add("q:2", "Yes or no?")  # too short to mean anything
    assert index.match("Quiz: what is the capital city of the country peru") == "q:1"
    assert index.match("yes or no") is None
    assert index.items == 1


def test_real_user_oriented_instructions_are_caught(tmp_path: Path) -> None:
    rows = predictions()
    evaluation = tmp_path / "eval.jsonl"
    evaluation.write_text("".join(json.dumps({"q": r["instruction"]}) + "\n" for r in rows[:100]))
    index = ContaminationIndex()
    assert index.add_file(evaluation) > 50
    hits = [r for r in rows if index.match(r["instruction"])]
    # Every indexed instruction long enough is caught; the other 152 mostly are not.
    assert len([r for r in hits if r in rows[:100]]) == index.items
    assert len([r for r in hits if r not in rows[:100]]) < 5


def test_eval_file_formats(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps([{"choices": ["x y", "z"]}]))
    (tmp_path / "b.txt").write_text("first line\n\nsecond line\n")
    assert list(eval_items(tmp_path / "a.json")) == [("a.json[0]", "x y"), ("a.json[0]", "z")]
    assert [label for label, _ in eval_items(tmp_path / "b.txt")] == ["b.txt:1", "b.txt:3"]
    (tmp_path / "c.jsonl").write_text('{"q": "ok"}\n{broken\n')
    with pytest.raises(InputError, match=r"c\.jsonl:2"):
        list(eval_items(tmp_path / "c.jsonl"))


def test_head_filter_finds_exactly_what_every_window_at_every_length_finds() -> None:
    from herdsman.io.bundled import bundled_file

    index = ContaminationIndex()
    for path in sorted(bundled_file("eval").glob("*.jsonl")):
        index.add_file(path)
    items = [
        text
        for path in sorted(bundled_file("eval").glob("*.jsonl"))
        for _, text in eval_items(path)
    ]

    def brute(text: str) -> bool:
        toks = words(text)
        for size, table in ((index.n, index.grams), *index.short.items()):
            for i in range(len(toks) - size + 1):
                if hash(tuple(toks[i : i + size])) in table:
                    return True
        return False

    rows = json.loads(require_data("alpaca", "alpaca_5000.json").read_text())[:1500]
    texts = [r["output"] for r in rows] + [r["instruction"] for r in rows]
    # Planted: items whole, items inside other text, items cut one word short.
    for n, item in enumerate(items[:300]):
        toks = item.split()
        texts += [item, f"As asked before: {item} Thanks.", " ".join(toks[1:]), " ".join(toks[:-1])]
        texts.append(rows[n]["output"] + " " + " ".join(toks[:14]))
    found = [index.match(t) is not None for t in texts]
    assert found == [brute(t) for t in texts]
    assert 150 < sum(found) < len(texts) - 2000
