"""Decontamination: find training examples that share word n-grams with evaluation items.

The rule is the one GPT-3 and lm-evaluation-harness popularised: lower-cased
word n-grams (13 by default); an example whose instruction or response shares
one n-gram with any evaluation item is dropped. Evaluation items shorter than
n words but at least ``min_words`` long count when they appear whole, so a
short benchmark question copied verbatim is still caught.

Evaluation files: JSONL or JSON (every string value, also inside lists, is
one item), plain text (one item per line) or Parquet (string columns).

Matching is exact, and costs one hash per word of the text: every indexed
n-gram and short item also enters a table of its first ``k`` words
(``k = min(n, min_words)``), and only a text window whose first ``k`` words
are in that table is checked at the longer lengths (instead of hashing every
window at every length, which made decontamination most of the dataset
stage's time at millions of rows).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from herdsman.errors import InputError
from herdsman.io.jsonl import iter_json_objects

_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """Lower-cased words (letters and digits; punctuation and case ignored)."""
    return _WORD.findall(text.lower())


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def eval_items(path: Path) -> Iterator[tuple[str, str]]:
    """Yield ``(label, text)`` for every item of an evaluation file.

    Raises:
        InputError: Unreadable or malformed file.
    """
    if path.suffix == ".jsonl":
        for line, obj in iter_json_objects(path):
            for text in _strings(obj):
                yield f"{path.name}:{line}", text
    elif path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(str(path), None, f"cannot read JSON ({exc})") from None
        items = data if isinstance(data, list) else [data]
        for i, obj in enumerate(items):
            for text in _strings(obj):
                yield f"{path.name}[{i}]", text
    elif path.suffix == ".parquet":
        import pandas as pd

        frame = pd.read_parquet(path)
        for column in frame.columns:
            for i, value in enumerate(frame[column]):
                for text in _strings(value if not hasattr(value, "tolist") else value.tolist()):
                    yield f"{path.name}:{i + 1}", text
    else:
        try:
            with path.open(encoding="utf-8") as handle:
                for line, text in enumerate(handle, 1):
                    if text.strip():
                        yield f"{path.name}:{line}", text
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(str(path), None, f"cannot read ({exc})") from None


@dataclass
class ContaminationIndex:
    """The n-grams of a set of evaluation items.

    Args:
        n: N-gram length in words.
        min_words: Shorter items count whole when at least this many words.
    """

    n: int = 13
    min_words: int = 8
    grams: dict[int, int] = field(default_factory=dict)
    short: dict[int, dict[int, int]] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    items: int = 0
    heads: set[int] = field(default_factory=set)

    @property
    def _k(self) -> int:
        return min(self.n, self.min_words)

    def add(self, label: str, text: str) -> None:
        """Index one evaluation item."""
        toks = words(text)
        if len(toks) < min(self.n, self.min_words):
            return
        self.items += 1
        self.labels.append(label)
        ref = len(self.labels) - 1
        k = self._k
        if len(toks) < self.n:
            self.short.setdefault(len(toks), {}).setdefault(hash(tuple(toks)), ref)
            self.heads.add(hash(tuple(toks[:k])))
            return
        for i in range(len(toks) - self.n + 1):
            self.grams.setdefault(hash(tuple(toks[i : i + self.n])), ref)
            self.heads.add(hash(tuple(toks[i : i + k])))

    def add_file(self, path: Path) -> int:
        """Index every item of an evaluation file; return how many were long enough."""
        before = self.items
        for label, text in eval_items(path):
            self.add(label, text)
        return self.items - before

    def match(self, text: str) -> str | None:
        """The label of an evaluation item sharing an n-gram with ``text``, else ``None``."""
        toks = words(text)
        k, heads = self._k, self.heads
        tables = [
            (size, table) for size, table in ((self.n, self.grams), *self.short.items()) if table
        ]
        for i in range(len(toks) - k + 1):
            if hash(tuple(toks[i : i + k])) not in heads:
                continue
            for size, table in tables:
                if i + size <= len(toks):
                    ref = table.get(hash(tuple(toks[i : i + size])))
                    if ref is not None:
                        return self.labels[ref]
        return None

    def match_any(self, texts: Iterable[str]) -> str | None:
        """First match among several texts (an instruction and its response)."""
        for text in texts:
            found = self.match(text)
            if found is not None:
                return found
        return None
