"""``herdsman report RUN_DIR -o report.html``: one self-contained HTML page for a run.

Reads only the run folder's files (dataset stats, analysis, student records,
evaluation results, judge results, the human-rating database) and embeds every
figure as a PNG data URI, so the page can be mailed or archived as one file.
A part of the run that has not been produced yet is shown as a note saying
which stage or command makes it; the page is written anyway.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import TemplateRuntimeError

from herdsman.errors import HerdsmanError
from herdsman.evaluate.degenerate import DEGENERATE
from herdsman.evaluate.evaluator import BENCHMARKS, IMITATION, JUDGE, PROBES, RATINGS_DB
from herdsman.evaluate.intervals import Interval
from herdsman.io.atomic import write_text_atomic
from herdsman.io.jsonl import json_type
from herdsman.io.templating import template_env
from herdsman.report import figures as report_figures
from herdsman.report.agreement import judge_vs_humans

EVAL_DIR = "eval"


@dataclass
class ReportData:
    """Everything the template shows; ``missing`` says what could not be shown and why."""

    run_dir: Path
    sections: dict[str, Any] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)


#: The file behind each section of the page, for a note when it cannot be shown.
SECTION_FILES = {
    "dataset": "dataset/stats.json",
    "analysis": "analysis/analysis.json",
    "selection": "selected/selection.json",
    "ablation": "ablation/ablation.json",
    "herd": "students/*/herdsman-train.json",
    "benchmarks": f"{EVAL_DIR}/{BENCHMARKS}",
    "degenerate": f"{EVAL_DIR}/{DEGENERATE}",
    "imitation": f"{EVAL_DIR}/{IMITATION}",
    "judge": f"{EVAL_DIR}/{JUDGE}",
    "humans": f"{EVAL_DIR}/{RATINGS_DB}",
    "probes": f"{EVAL_DIR}/{PROBES}",
}
#: What a file of the wrong shape raises while its section is built or drawn.
SHAPE_ERRORS = (TypeError, KeyError, AttributeError, ValueError, IndexError, LookupError)


class Unreadable(Exception):
    """A run file that exists but cannot be shown: not JSON, or not the shape the page needs."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"{path}: {why}")


def _json(path: Path) -> Any:
    """The JSON object in ``path``; ``None`` when it does not exist.

    Raises:
        Unreadable: The file exists but is not UTF-8 JSON, or not a JSON object.
    """
    if not path.exists():
        return None
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise Unreadable(path, f"cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise Unreadable(path, "not UTF-8 text") from None
    except ValueError as exc:
        raise Unreadable(path, f"not JSON ({exc})") from None
    if not isinstance(found, dict):
        raise Unreadable(path, f"expected a JSON object, found {json_type(found)}")
    return found


def _data_uri(png: bytes | None) -> str | None:
    return "data:image/png;base64," + base64.b64encode(png).decode() if png else None


def _file_uri(path: Path) -> str | None:
    return _data_uri(path.read_bytes()) if path.is_file() else None


def _dataset(data: ReportData) -> None:
    stats = _json(data.run_dir / "dataset" / "stats.json")
    if stats is None:
        data.missing["dataset"] = (
            "no dataset yet: run the dataset stage (herdsman run CONFIG --stage dataset)"
        )
        return
    try:
        quality = _json(data.run_dir / "quality" / "report.json")
    except Unreadable:
        quality = None
    data.sections["dataset"] = {**stats, "quality": quality if isinstance(quality, dict) else None}
    analysis = data.run_dir / "analysis"
    try:
        found = _json(analysis / "analysis.json")
    except Unreadable as exc:
        data.missing["analysis"] = f"unreadable: {exc}"
        return
    if found is None:
        data.missing["analysis"] = "no analysis yet: run the analyze stage (or herdsman analyze)"
        return
    data.sections["analysis"] = {
        "summary": found,
        "composition": _file_uri(analysis / "composition.png"),
        "lengths": _file_uri(analysis / "lengths.png"),
        "tsne": _file_uri(analysis / "diversity_tsne.png"),
    }


def _selection(data: ReportData) -> None:
    """The select stage's report and the ablation, when the run has them (both are optional)."""
    found = _json(data.run_dir / "selected" / "selection.json")
    if isinstance(found, dict):
        data.sections["selection"] = found
    ablation = _json(data.run_dir / "ablation" / "ablation.json")
    if isinstance(ablation, dict):
        data.sections["ablation"] = ablation
    elif isinstance(found, dict):
        data.missing["ablation"] = (
            "no ablation: set ablation.enabled (or run herdsman ablate CONFIG) to learn "
            "whether the selection helped"
        )


def _herd(data: ReportData) -> None:
    students = sorted((data.run_dir / "students").glob("*/herdsman-train.json"))
    rows = []
    for path in students:
        try:
            rows.append(_json(path))
        except Unreadable as exc:
            data.missing[f"herd: {path.parent.name}"] = f"unreadable: {exc}"
    if not rows:
        data.missing["herd"] = "no trained students yet: run the train stage"
        return
    data.sections["herd"] = rows


def _benchmarks(data: ReportData) -> None:
    found = _json(data.run_dir / EVAL_DIR / BENCHMARKS)
    if found is None:
        data.missing["benchmarks"] = (
            "no benchmark results yet: run the evaluate stage (or herdsman eval)"
        )
        return
    found["figure"] = _data_uri(report_figures.scores_vs_parameters(found.get("models", [])))
    found["task_n"] = {
        task: max(
            (
                m["scores"][task].get("n") or 0
                for m in found.get("models", [])
                if task in m.get("scores", {})
            ),
            default=0,
        )
        for task in found.get("tasks", [])
    }
    data.sections["benchmarks"] = found


def _imitation(data: ReportData) -> None:
    found = _json(data.run_dir / EVAL_DIR / IMITATION)
    if found is None:
        data.missing["imitation"] = "no imitation scores yet: run the evaluate stage"
        return
    found["figure"] = _data_uri(report_figures.imitation_bars(found.get("scores", [])))
    data.sections["imitation"] = found


def _judge(data: ReportData) -> None:
    found = _json(data.run_dir / EVAL_DIR / JUDGE)
    if found is None:
        data.missing["judge"] = "no judge results yet: run the judge stage (or herdsman judge)"
        return
    found["figure"] = _data_uri(
        report_figures.grade_bars(found.get("grades", {}), "LLM judge, A-D rubric")
    )
    data.sections["judge"] = found


def _humans(data: ReportData) -> None:
    path = data.run_dir / EVAL_DIR / RATINGS_DB
    if not path.is_file():
        data.missing["humans"] = (
            f"no human ratings yet: herdsman rate serve {data.run_dir / EVAL_DIR / 'answer_sheet.jsonl'} "
            f"--db {path}"
        )
        return
    from herdsman.rating.db import RatingDB, agreement

    try:
        db = RatingDB(path)
        rows = db.ratings()
    except (HerdsmanError, sqlite3.Error):
        raise Unreadable(path, "not a SQLite rating database") from None
    if not rows:
        data.missing["humans"] = f"the rating database {path} has no ratings yet"
        return
    counts = db.grade_counts()
    try:
        judged = _json(data.run_dir / EVAL_DIR / JUDGE)
    except Unreadable:
        judged = None
    judgements = judged.get("judgements", []) if isinstance(judged, dict) else []
    data.sections["humans"] = {
        "counts": counts,
        "ratings": len(rows),
        "agreement": agreement(rows),
        "judge_agreement": judge_vs_humans(judgements, rows),
        "figure": _data_uri(report_figures.grade_bars(counts, "Human raters, A-D rubric")),
    }


def _degenerate(data: ReportData) -> None:
    found = _json(data.run_dir / EVAL_DIR / DEGENERATE)
    if isinstance(found, dict) and isinstance(found.get("models"), dict):
        data.sections["degenerate"] = found


def _probes(data: ReportData) -> None:
    found = _json(data.run_dir / EVAL_DIR / PROBES)
    if found is None:
        data.missing["probes"] = "no probe answers yet: run the evaluate stage"
        return
    from herdsman.dataset.quality import QualitySettings
    from herdsman.evaluate.degenerate import flag

    rules = (data.sections.get("degenerate") or {}).get("rules")
    settings = QualitySettings(rules=frozenset(rules)) if rules else QualitySettings()
    prompts = found.get("prompts", [])
    found["flags"] = {
        model: [
            flag(p, a, settings) if isinstance(a, str) else None
            for p, a in zip(prompts, answers, strict=False)
        ]
        for model, answers in found.get("answers", {}).items()
    }
    data.sections["probes"] = found


def collect(run_dir: Path) -> ReportData:
    """Read what the run folder has.

    Raises:
        HerdsmanError: ``run_dir`` is not a folder.
    """
    if not run_dir.is_dir():
        raise HerdsmanError(f"{run_dir}: no such run folder")
    data = ReportData(run_dir)
    for part in (
        _dataset,
        _selection,
        _herd,
        _benchmarks,
        _degenerate,
        _imitation,
        _judge,
        _humans,
        _probes,
    ):
        before = set(data.sections)
        name = part.__name__.lstrip("_")
        try:
            part(data)
        except Unreadable as exc:
            data.missing[name] = f"unreadable: {exc}"
        except SHAPE_ERRORS as exc:
            file = run_dir / SECTION_FILES.get(name, name)
            data.missing[name] = f"unreadable: {file}: not the shape herdsman writes ({exc!r})"
        else:
            continue
        for added in set(data.sections) - before:  # nothing half-built reaches the page
            del data.sections[added]
    return data


def render(data: ReportData) -> str:
    """The HTML page; a section whose file has a shape the template cannot draw is left
    out and listed in ``data.missing`` instead.
    """
    drawing_errors = (*SHAPE_ERRORS, TemplateRuntimeError)
    try:
        return _render(data)
    except drawing_errors:
        pass
    everything = dict(data.sections)
    for name, section in list(everything.items()):
        data.sections = {name: section}
        try:
            _render(data)
        except drawing_errors as exc:
            del everything[name]
            file = data.run_dir / SECTION_FILES.get(name, name)
            data.missing[name] = f"unreadable: {file}: not the shape herdsman writes ({exc!r})"
    data.sections = everything
    return _render(data)


def _render(data: ReportData) -> str:
    env = template_env("herdsman.report")
    # One rule for "a difference the data supports" (see Interval.excludes_zero).
    env.tests["finding"] = lambda d: Interval(
        d["mean"], d["low"], d["high"], d["n"]
    ).excludes_zero()
    return env.get_template("report.html").render(
        run_dir=str(data.run_dir),
        generated=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        s=data.sections,
        missing=data.missing,
    )


def write_report(run_dir: Path, out: Path) -> ReportData:
    """Write the report of ``run_dir`` to ``out`` (atomically)."""
    data = collect(run_dir)
    write_text_atomic(out, render(data))
    return data
