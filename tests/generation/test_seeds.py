from __future__ import annotations

import json
from pathlib import Path

import pytest

from herdsman.errors import InputError
from herdsman.generation.seeds import detect_format, load_seeds, strip_eot
from herdsman.io.jsonl import BadLines
from tests.conftest import assert_one_line_error, require_data, run_cli


def test_self_instruct_seed_tasks() -> None:
    seeds = list(load_seeds(require_data("self_instruct", "seed_tasks.jsonl")))
    assert len(seeds) == 175
    assert seeds[0].id == "self-instruct:seed_task_0"
    assert seeds[0].source == "self-instruct"
    assert seeds[0].output.startswith("Yes, you can have 1 oatmeal")
    assert sum(1 for s in seeds if s.input) > 50  # many seeds carry an input instance
    assert len({s.id for s in seeds}) == 175


def test_user_oriented_instructions_keep_their_app_as_subset() -> None:
    seeds = list(load_seeds(require_data("self_instruct", "user_oriented_instructions.jsonl")))
    assert len(seeds) == 252
    assert seeds[0].subset == "Grammarly"
    assert len({s.subset for s in seeds}) > 20


def test_alpaca_array() -> None:
    seeds = list(load_seeds(require_data("alpaca", "alpaca_5000.json")))
    assert len(seeds) == 5000
    assert seeds[0].instruction.startswith("Are the two sentences below grammatically correct")
    assert seeds[0].input.startswith("Sentence 1:")
    assert {s.source for s in seeds} == {"alpaca"}


def test_p3_folder_strips_end_of_text_and_uses_template_as_subset() -> None:
    folder = require_data("p3_templates")
    seeds = list(load_seeds(folder))
    assert len(seeds) == 21_955
    assert all("<|endoftext|>" not in s.output for s in seeds)
    subsets = {s.subset for s in seeds}
    assert len(subsets) == 113  # 115 templates, two are empty files
    assert "trec_fine_grained_ABBR" not in subsets
    first = next(s for s in seeds if s.subset == "ag_news_classify")
    assert first.output == "Business"
    assert first.instruction.endswith("What label best describes this news article?")


def test_strip_eot_only_strips_a_trailing_marker() -> None:
    assert strip_eot("Business<|endoftext|>") == "Business"
    assert strip_eot("a <|endoftext|> b") == "a <|endoftext|> b"
    assert strip_eot("plain") == "plain"


def test_auto_detects_every_format(tmp_path: Path) -> None:
    assert detect_format(require_data("self_instruct", "seed_tasks.jsonl")) == "self-instruct"
    assert detect_format(require_data("alpaca", "alpaca_5000.json")) == "alpaca"
    assert detect_format(require_data("p3_templates")) == "p3"
    assert detect_format(require_data("p3_templates", "ag_news_classify.jsonl")) == "p3"
    flan = tmp_path / "flan.jsonl"
    flan.write_text(
        json.dumps({"inputs": "Translate: hi", "targets": "salut", "task_name": "wmt"}) + "\n"
    )
    assert detect_format(flan) == "flan"
    plain = tmp_path / "mine.jsonl"
    plain.write_text(json.dumps({"instruction": "Say hi"}) + "\n")
    assert detect_format(plain) == "jsonl"


def test_flan_jsonl_and_datasets_folder(tmp_path: Path) -> None:
    rows = [
        {"inputs": "Is this positive? I loved it.", "targets": "yes", "task_name": "imdb:1.0.0"},
        {"inputs": "Translate to German: cat", "targets": "Katze", "task_name": "wmt16"},
    ]
    path = tmp_path / "flan.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    seeds = list(load_seeds(path, "flan"))
    assert [s.subset for s in seeds] == ["imdb:1.0.0", "wmt16"]
    assert seeds[1].output == "Katze"

    from datasets import Dataset

    folder = tmp_path / "flan_ds"
    Dataset.from_list(rows).save_to_disk(str(folder))
    from_disk = list(load_seeds(folder))
    assert [s.instruction for s in from_disk] == [s.instruction for s in seeds]


def test_flan_without_task_name_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "flan.jsonl"
    path.write_text(json.dumps({"inputs": "x", "targets": "y"}) + "\n")
    with pytest.raises(InputError, match=r"flan.jsonl:1: missing task name"):
        list(load_seeds(path, "flan"))


def test_jsonl_missing_field_empty_instruction_and_skip_bad(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text(
        '{"instruction": "ok one"}\n{"text": "no instruction"}\n{"instruction": "  "}\n{broken\n'
    )
    with pytest.raises(InputError, match=r"mine.jsonl:2: missing field 'instruction'"):
        list(load_seeds(path, "jsonl"))
    bad = BadLines()
    seeds = list(load_seeds(path, "jsonl", skip_bad=True, bad=bad))
    assert [s.instruction for s in seeds] == ["ok one"]
    assert bad.count == 3
    assert ":3: field 'instruction': empty instruction" in bad.examples[1]


def test_alpaca_error_names_the_array_index(tmp_path: Path) -> None:
    path = tmp_path / "alpaca.json"
    path.write_text(json.dumps([{"instruction": "a"}, {"input": "no instruction"}]))
    with pytest.raises(InputError, match=r"alpaca.json\[1\]: missing field 'instruction'"):
        list(load_seeds(path, "alpaca"))


def test_cli_writes_normalised_records(tmp_path: Path) -> None:
    out = tmp_path / "seeds.jsonl"
    result = run_cli(
        "seeds",
        str(require_data("self_instruct", "seed_tasks.jsonl")),
        str(require_data("alpaca", "alpaca_5000.json")),
        "-o",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 5175
    assert set(rows[0]) == {"id", "instruction", "input", "output", "source", "subset"}


def test_cli_bad_line_is_one_line_error_and_keeps_old_output(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text('{"instruction": "fine"}\n{"instruction": \n')
    out = tmp_path / "seeds.jsonl"
    out.write_text("previous\n")
    result = run_cli("seeds", str(path), "--format", "jsonl", "-o", str(out))
    assert_one_line_error(result, f"{path}:2", "invalid JSON")
    assert out.read_text() == "previous\n"  # nothing already written is lost
    ok = run_cli("seeds", str(path), "--format", "jsonl", "--skip-bad", "-o", str(out))
    assert ok.returncode == 0, ok.stderr
    assert len(out.read_text().splitlines()) == 1
    assert "skipped 1 malformed" in ok.stderr


def test_cli_unknown_format_and_missing_path(tmp_path: Path) -> None:
    assert_one_line_error(
        run_cli("seeds", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "o.jsonl")),
        "no such file",
    )
    path = tmp_path / "a.jsonl"
    path.write_text('{"instruction": "x"}\n')
    assert_one_line_error(
        run_cli("seeds", str(path), "--format", "csv", "-o", str(tmp_path / "o.jsonl")),
        "unknown format 'csv'",
    )
