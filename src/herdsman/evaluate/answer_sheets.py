"""Answer sheets: instructions and the answers several models gave to them.

The judge and the rating app both read them. A sheet is built from JSONL
files, one row per (instruction, model) answer, in either shape:

- herdsman's: ``{"id"?, "instruction", "input"?, "model", "answer"}``;
- Self-Instruct's prediction files: ``{"instruction", "input", "response"}``,
  one file per model (the model is the file name without ``_predictions``).

Rows of different files that share instruction and input are the same item
(its id is a hash of both unless the row gives one).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from herdsman.errors import InputError
from herdsman.io.jsonl import check_types, iter_json_objects

ANSWER_FIELDS = ("answer", "response", "output")


@dataclass(frozen=True)
class Item:
    """One instruction (with its optional input)."""

    id: str
    instruction: str
    input: str = ""

    def prompt(self) -> str:
        """Instruction and input as one text."""
        return f"{self.instruction}\n\n{self.input}" if self.input else self.instruction


@dataclass
class AnswerSheet:
    """Items in first-seen order and each model's answer to each."""

    items: list[Item] = field(default_factory=list)
    answers: dict[str, dict[str, str]] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)

    def add(self, item: Item, model: str, answer: str) -> None:
        """Record one answer (the first answer of a model to an item wins)."""
        if item.id not in self.answers:
            self.items.append(item)
            self.answers[item.id] = {}
        self.answers[item.id].setdefault(model, answer)
        if model not in self.models:
            self.models.append(model)


def item_id(instruction: str, input_text: str) -> str:
    """Stable id of an instruction and its input."""
    digest = hashlib.blake2b(f"{instruction}\x1f{input_text}".encode(), digest_size=8)
    return digest.hexdigest()


def model_name_for(path: Path) -> str:
    """A model name from a predictions file name."""
    stem = path.stem
    return stem[: -len("_predictions")] if stem.endswith("_predictions") else stem


#: The JSON types an answer sheet's fields may have (absent counts as null).
SHEET_TYPES: dict[str, tuple[type, ...]] = {
    "instruction": (str, type(None)),
    "input": (str, type(None)),
    "model": (str, type(None)),
    "id": (str, int, type(None)),
    **{f: (str, type(None)) for f in ANSWER_FIELDS},
}


def read_answer_sheet(paths: list[Path]) -> AnswerSheet:
    """Read answers from JSONL files.

    Raises:
        InputError: Unreadable file, malformed line, or a row without an
            instruction or an answer (named by file and line).
    """
    sheet = AnswerSheet()
    for path in paths:
        default_model = model_name_for(path)
        for line, row in iter_json_objects(path):
            check_types(row, SHEET_TYPES, path, line)
            instruction = row.get("instruction")
            if not isinstance(instruction, str) or not instruction.strip():
                raise InputError(str(path), line, "missing field 'instruction'")
            answer = next((row[f] for f in ANSWER_FIELDS if isinstance(row.get(f), str)), None)
            if answer is None:
                raise InputError(str(path), line, "missing field 'answer' (or 'response')")
            raw_input = row.get("input")
            input_text = raw_input if isinstance(raw_input, str) else ""
            given = row.get("id")
            item = Item(
                id=str(given) if given is not None else item_id(instruction, input_text),
                instruction=instruction.strip(),
                input=input_text.strip(),
            )
            raw_model = row.get("model")
            model = raw_model if isinstance(raw_model, str) else default_model
            sheet.add(item, model, answer.strip())
    return sheet
