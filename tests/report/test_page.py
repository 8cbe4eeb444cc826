"""The HTML report: every section from a full run folder, notes for missing parts, Chromium render."""

from __future__ import annotations

import json
import re
from pathlib import Path

from herdsman.dataset.analysis_plots import plot_composition
from herdsman.evaluate.answer_sheets import AnswerSheet, Item
from herdsman.rating.db import RatingDB
from herdsman.report.page import write_report
from tests.conftest import assert_one_line_error, run_cli
from tests.helpers.web import chromium

HOSTILE = "<script>document.title='pwned'</script>"


def _model(name: str, role: str, params: int, arch: str, mean: float, base_of: str | None = None):  # type: ignore[no-untyped-def]
    return {
        "name": name, "role": role, "parameters": params, "architecture": arch, "wrapper": "alpaca",
        "base_of": base_of, "mean": mean,
        "scores": {"herdsman_nli": {"metric": "acc", "value": mean, "stderr": 0.05}},
    }  # fmt: skip


def full_run(run: Path) -> Path:
    """A run folder with every file the report reads (values shaped like real outputs)."""
    (run / "dataset").mkdir(parents=True)
    (run / "dataset" / "stats.json").write_text(json.dumps({
        "rows_in": 40, "kept": 38, "splits": {"train": 34, "held_out": 4},
        "by_source": {"train": {"alpaca": 20, "self_instruct_with_topic": 14},
                      "held_out": {"alpaca": 3, "self_instruct_with_topic": 1}},
        "teachers": {"local:smollm2": 38},
    }))  # fmt: skip
    analysis = run / "analysis"
    analysis.mkdir()
    plot_composition({"alpaca": 23, "self_instruct_with_topic": 15}, analysis / "composition.png")
    (analysis / "analysis.json").write_text(
        json.dumps(
            {
                "diversity": {
                    "mean_cosine_distance": 0.81,
                    "distinct_2": 0.7,
                    "leading_word_share": 0.4,
                    "sample": 38,
                }
            }
        )
    )
    student = run / "students" / "t5-lamini"
    student.mkdir(parents=True)
    (student / "herdsman-train.json").write_text(json.dumps({
        "name": "t5-lamini", "base": "t5-scratch", "architecture": "seq2seq", "method": "full",
        "wrapper": "none", "parameters": 25_000_000, "examples": 34, "steps": 20,
        "train_seconds": 61.2, "final_loss": 3.2, "held_out_loss": 3.9,
    }))  # fmt: skip
    ev = run / "eval"
    ev.mkdir()
    ev.joinpath("benchmarks.json").write_text(json.dumps({
        "tasks": ["herdsman_nli"], "unavailable": {"sst2": "data not reachable"}, "limit": 10,
        "models": [
            _model("t5-lamini", "student", 25_000_000, "seq2seq", 0.41),
            _model("t5-scratch (base)", "base", 25_000_000, "seq2seq", 0.33, "t5-lamini"),
            _model("smollm2-lora", "student", 134_000_000, "causal", 0.52),
        ],
    }))  # fmt: skip
    ev.joinpath("imitation.json").write_text(
        json.dumps(
            {
                "items": 4,
                "scores": [
                    {
                        "model": "t5-lamini",
                        "rouge_l": 0.21,
                        "embedding_similarity": 0.55,
                        "items": 4,
                    },
                    {
                        "model": "t5-scratch (base)",
                        "rouge_l": 0.02,
                        "embedding_similarity": 0.08,
                        "items": 4,
                    },
                ],
            }
        )
    )
    ev.joinpath("judge.json").write_text(json.dumps({
        "grades": {"t5-lamini": {"A": 1, "B": 2, "C": 1, "D": 0, "unparsed": 1, "failed": 0}},
        "bias": {"graded": 4, "unparsed": 1, "first_position_rate": None, "grade_length_spearman": 0.2},
    }))  # fmt: skip
    ev.joinpath("probes.json").write_text(
        json.dumps(
            {
                "prompts": ["Say hello.", "Name a fruit."],
                "answers": {
                    "t5-lamini": ["Hello!", HOSTILE],
                    "smollm2-lora": ["Hi there.", "An apple."],
                },
            }
        )
    )
    db = RatingDB(ev / "ratings.sqlite")
    sheet = AnswerSheet()
    for n in range(3):
        sheet.add(Item(f"i{n}", f"instruction {n}"), "t5-lamini", f"answer {n}")
    db.import_sheet(sheet)
    for name in ("ann", "bob"):
        rater = db.rater_for(db.login(name=name))
        assert rater
        for n, grade in enumerate("ABC"):
            db.submit(rater, f"i{n}", {0: grade})
    return run


def test_full_report_is_self_contained_and_renders(tmp_path: Path) -> None:
    run = full_run(tmp_path / "run")
    out = tmp_path / "report.html"
    data = write_report(run, out)
    assert data.missing == {}
    html = out.read_text()
    for heading in ("Dataset", "Diversity", "The herd", "Benchmarks", "Imitation of the teacher",
                    "LLM judge", "Human raters", "Probe prompts"):  # fmt: skip
        assert heading in html
    images = re.findall(r'<img alt="([^"]+)" src="([^"]{0,30})', html)
    assert {alt for alt, _ in images} >= {
        "composition by source", "score against parameters", "imitation scores",
        "judge grades", "human grades",
    }  # fmt: skip
    assert all(src.startswith("data:image/png;base64,") for _, src in images)
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched from elsewhere
    assert "&lt;script&gt;document.title" in html and HOSTILE not in html
    assert "Krippendorff" in html and "1.000" in html  # two raters agreeing on every answer
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(out.as_uri())
        assert page.title().startswith("herdsman report")
        broken = page.evaluate(
            "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).length"
        )
        assert broken == 0
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
    _assert_not_blank(shot)


def _assert_not_blank(png: Path) -> None:
    from PIL import Image

    image = Image.open(png).convert("RGB")
    assert image.height > 2000  # every section laid out, one under another
    small = image.resize((200, 200 * image.height // image.width))
    pixels = list(small.get_flattened_data())
    non_white = sum(1 for p in pixels if sum(p) < 720) / len(pixels)
    assert non_white > 0.03, non_white
    assert len(set(pixels)) > 50  # text, tables and coloured figures, not a flat page


def test_report_on_a_partial_run_says_what_is_missing(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "dataset").mkdir(parents=True)
    (run / "dataset" / "stats.json").write_text("{not json")
    out = tmp_path / "report.html"
    result = run_cli("report", str(run), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "not in the report: benchmarks" in result.stdout + result.stderr
    html = out.read_text()
    assert "Not in this report yet" in html
    for part in ("dataset", "herd", "benchmarks", "imitation", "judge", "humans", "probes"):
        assert f"<b>{part}</b>" in html


def test_report_on_a_missing_folder(tmp_path: Path) -> None:
    result = run_cli("report", str(tmp_path / "nope"), "-o", str(tmp_path / "r.html"))
    assert_one_line_error(result, "nope", "no such run folder")
    assert not (tmp_path / "r.html").exists()
