"""Self-Instruct's quality filters for generated instructions, each switchable and counted.

From Self-Instruct (Wang et al. 2022), applied before deduplication:

- ``too_short`` / ``too_long``: fewer than ``min_words`` or more than ``max_words`` words
  (Self-Instruct: more than 3 and at most 150);
- ``unsuitable``: needs something a text model cannot see or produce (image,
  graph, picture, file, map, draw, plot, go to, video, audio, music,
  flowchart, diagram);
- ``program``: starts with "Write a program" (ambiguous for a text model);
- ``punctuation``: starts with punctuation;
- ``non_english``: starts with a non-ASCII character.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass, field

from herdsman.config import FILTER_NAMES

UNSUITABLE_WORDS = (
    "image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps",
    "draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram",
)  # fmt: skip


@dataclass(frozen=True)
class FilterConfig:
    """Which filters run and their bounds."""

    enabled: frozenset[str] = frozenset(FILTER_NAMES)
    min_words: int = 4
    max_words: int = 150
    unsuitable_words: tuple[str, ...] = UNSUITABLE_WORDS

    def without(self, names: list[str]) -> FilterConfig:
        """A copy with some filters switched off.

        Raises:
            ValueError: An unknown filter name.
        """
        unknown = set(names) - set(FILTER_NAMES)
        if unknown:
            raise ValueError(
                f"unknown filter(s) {', '.join(sorted(unknown))} (known: {', '.join(FILTER_NAMES)})"
            )
        return FilterConfig(
            self.enabled - set(names), self.min_words, self.max_words, self.unsuitable_words
        )


@dataclass
class QualityFilter:
    """Applies a :class:`FilterConfig` and counts what each filter removed."""

    config: FilterConfig = field(default_factory=FilterConfig)
    removed: Counter[str] = field(default_factory=Counter)
    passed: int = 0

    def __post_init__(self) -> None:
        words = "|".join(re.escape(w) for w in self.config.unsuitable_words)
        self._unsuitable = re.compile(rf"\b(?:{words})\b", re.I) if words else None

    def reason(self, text: str) -> str | None:
        """The first filter that rejects ``text``, or ``None`` if it passes (nothing counted)."""
        on = self.config.enabled
        stripped = text.strip()
        n_words = len(stripped.split())
        if "too_short" in on and n_words < self.config.min_words:
            return "too_short"
        if "too_long" in on and n_words > self.config.max_words:
            return "too_long"
        if "unsuitable" in on and self._unsuitable and self._unsuitable.search(stripped):
            return "unsuitable"
        if "program" in on and stripped.lower().startswith("write a program"):
            return "program"
        if "punctuation" in on and stripped[:1] in string.punctuation:
            return "punctuation"
        if "non_english" in on and stripped and not stripped[0].isascii():
            return "non_english"
        return None

    def keep(self, text: str) -> bool:
        """Whether ``text`` passes; counts the outcome."""
        why = self.reason(text)
        if why:
            self.removed[why] += 1
            return False
        self.passed += 1
        return True
