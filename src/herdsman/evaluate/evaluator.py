"""Evaluate a herd: benchmarks, imitation score, probe answers, answer sheets for judging.

Used by ``herdsman eval`` and by the pipeline's ``evaluate`` stage. Writes, in
the output folder:

- ``benchmarks.json``: lm-eval scores of every model (students and bases);
- ``imitation.json``: ROUGE-L and embedding similarity to the teacher on the held-out split;
- ``probes.json``: every model's answer to each probe prompt;
- ``answer_sheet.jsonl``: every model's answer to the instructions to judge
  (input of ``herdsman judge`` and ``herdsman rate serve``);
- ``answers/``: the per-model answer cache (a re-run generates nothing twice).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from herdsman.config import EvaluationConfig, default_of
from herdsman.errors import InputError
from herdsman.evaluate.answer_sheets import AnswerSheet, Item
from herdsman.evaluate.answers import GenerationSettings, model_answers
from herdsman.evaluate.models import EvalModel
from herdsman.io.atomic import write_text_atomic
from herdsman.io.bundled import bundled_file
from herdsman.io.jsonl import BadLines, iter_json_objects, write_jsonl_atomic

BENCHMARKS = "benchmarks.json"
IMITATION = "imitation.json"
PROBES = "probes.json"
ANSWER_SHEET = "answer_sheet.jsonl"
JUDGE = "judge.json"
RATINGS_DB = "ratings.sqlite"
TEACHER = "teacher"


@dataclass(frozen=True)
class EvalSettings:
    """What an evaluation runs."""

    tasks: tuple[str, ...] = tuple(default_of(EvaluationConfig, "tasks"))
    limit: int | None = default_of(EvaluationConfig, "limit")
    batch_size: int = default_of(EvaluationConfig, "batch_size")
    imitation_items: int = default_of(EvaluationConfig, "imitation_items")
    max_new_tokens: int = default_of(EvaluationConfig, "max_new_tokens")

    @classmethod
    def from_config(cls, config: EvaluationConfig) -> EvalSettings:
        """The settings of a pipeline config's ``evaluation:`` section."""
        return cls(
            tasks=tuple(config.tasks),
            limit=config.limit,
            batch_size=config.batch_size,
            imitation_items=config.imitation_items,
            max_new_tokens=config.max_new_tokens,
        )


def load_probes(path: Path | None = None) -> list[str]:
    """Probe prompts: one per line, ``#`` comments and blank lines skipped (default: bundled).

    Raises:
        InputError: Unreadable or empty file.
    """
    path = path or bundled_file("probes.txt")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), None, f"cannot read probes ({exc})") from None
    probes = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not probes:
        raise InputError(str(path), None, "no probe prompts (one per line)")
    return probes


def read_instruction_items(path: Path, limit: int | None = None) -> list[Item]:
    """Instructions to judge or rate, in any format ``herdsman seeds`` reads (input kept).

    Raises:
        InputError: Unreadable file, malformed record, a record with a field that
            would be ignored.
    """
    from herdsman.generation.instructions import read_instructions

    items: list[Item] = []
    for instruction in read_instructions(path, "auto", "custom", False, BadLines()):
        items.append(
            Item(instruction.id, instruction.instruction.strip(), instruction.input.strip())
        )
        if limit and len(items) >= limit:
            break
    return items


def held_out_rows(dataset: Path, limit: int | None = None) -> list[dict[str, str]]:
    """Held-out ``{"instruction", "response"}`` rows of a herdsman dataset folder."""
    path = dataset / "held_out.jsonl" if dataset.is_dir() else dataset
    rows = []
    for _, row in iter_json_objects(path):
        rows.append({"instruction": str(row["instruction"]), "response": str(row["response"])})
        if limit and len(rows) >= limit:
            break
    return rows


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


class Evaluator:
    """Runs the evaluation parts for a list of models into one folder."""

    def __init__(
        self,
        models: list[EvalModel],
        out: Path,
        settings: EvalSettings,
        log: Callable[[str], None] = print,
        answers_dir: Path | None = None,
    ) -> None:
        """Remember what to evaluate and where to write.

        Args:
            models: The models.
            out: The output folder.
            settings: What to run.
            log: Where progress lines go.
            answers_dir: The answer cache (default ``out/answers``); share it
                between evaluations of the same model to generate nothing twice.
        """
        self.models, self.out, self.settings, self.log = models, out, settings, log
        self.answers_dir = answers_dir or out / "answers"
        self.generation = GenerationSettings(
            max_new_tokens=settings.max_new_tokens, batch_size=settings.batch_size
        )
        out.mkdir(parents=True, exist_ok=True)

    def answers(self, model: EvalModel, instructions: list[str]) -> list[str]:
        """A model's (cached) answers."""
        cache = self.answers_dir / f"{_slug(model.name)}.jsonl"
        return model_answers(model, instructions, cache, self.generation)

    def benchmarks(self) -> dict[str, Any]:
        """lm-eval on every model -> ``benchmarks.json``."""
        from herdsman.evaluate.benchmarks import run_benchmarks

        result = run_benchmarks(
            self.models,
            list(self.settings.tasks),
            self.settings.limit,
            self.settings.batch_size,
            on_model=lambda m: self.log(f"  benchmarks: {m.name}"),
        )
        write_text_atomic(self.out / BENCHMARKS, json.dumps(result, indent=1))
        return result

    def pairs(self) -> list[tuple[str, str]]:
        """``(student, base)`` names of the models evaluated together."""
        return [(m.base_of, m.name) for m in self.models if m.role == "base" and m.base_of]

    def imitation(self, dataset: Path) -> dict[str, Any]:
        """Imitation scores on the held-out split -> ``imitation.json``."""
        from herdsman.evaluate.imitation import comparisons, imitation_scores

        rows = held_out_rows(dataset, self.settings.imitation_items)
        instructions = [r["instruction"] for r in rows]
        answers: dict[str, list[str]] = {}
        for model in self.models:
            self.log(f"  imitation: {model.name} on {len(rows)} held-out instructions")
            answers[model.name] = self.answers(model, instructions)
        scores = imitation_scores([r["response"] for r in rows], answers)
        result = {
            "items": len(rows),
            "scores": [asdict(s) for s in scores],
            "comparisons": comparisons(scores, self.pairs()),
            "examples": [
                {
                    "instruction": r["instruction"],
                    TEACHER: r["response"],
                    "answers": {m: a[n] for m, a in answers.items()},
                }
                for n, r in enumerate(rows[:3])
            ],
        }
        write_text_atomic(self.out / IMITATION, json.dumps(result, indent=1))
        return result

    def probes(self, prompts: list[str]) -> dict[str, Any]:
        """Every model's answer to each probe -> ``probes.json``."""
        answers = {}
        for model in self.models:
            self.log(f"  probes: {model.name}")
            answers[model.name] = self.answers(model, prompts)
        result = {"prompts": prompts, "answers": answers}
        write_text_atomic(self.out / PROBES, json.dumps(result, indent=1))
        return result

    def answer_sheet(self, items: list[Item], reference: dict[str, str] | None = None) -> Path:
        """Every model's answer to ``items`` (plus ``reference`` answers as ``teacher``)."""
        sheet = AnswerSheet()
        prompts = [i.prompt() for i in items]
        for model in self.models:
            self.log(f"  answer sheet: {model.name} on {len(items)} instructions")
            for item, answer in zip(items, self.answers(model, prompts), strict=True):
                sheet.add(item, model.name, answer)
        for item in items:
            if reference and item.id in reference:
                sheet.add(item, TEACHER, reference[item.id])
        path = self.out / ANSWER_SHEET
        write_jsonl_atomic(
            path,
            (
                {
                    "id": item.id,
                    "instruction": item.instruction,
                    "input": item.input,
                    "model": model,
                    "answer": answer,
                }
                for item in sheet.items
                for model, answer in sheet.answers[item.id].items()
            ),
        )
        return path
