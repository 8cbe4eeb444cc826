"""Degenerate answers counted: the answer-quality gate's rules applied to every model's answers.

The rules that keep looping, echoed, empty, refusing or wrong-language
teacher answers out of the dataset (:mod:`herdsman.dataset.quality`) also
read the herd's answers on the answer sheet: per model, the share of answers
that fail a rule, with its 95% interval and n, so a student that loops shows
at a glance, whatever a judge thinks of it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from herdsman.dataset.quality import QualitySettings, failed_rule
from herdsman.evaluate.answer_sheets import AnswerSheet
from herdsman.evaluate.intervals import bootstrap_mean

#: The evaluation folder's file of degenerate-answer counts.
DEGENERATE = "degenerate.json"


def flag(instruction: str, answer: str, settings: QualitySettings) -> str | None:
    """The first quality rule an answer fails (``None``: it passes them all)."""
    return failed_rule({"instruction": instruction, "response": answer}, settings)


def degenerate_answers(sheet: AnswerSheet, settings: QualitySettings) -> dict[str, Any]:
    """Per model: answers, flagged, the flagged share with its 95% interval, counts by rule,
    and the rule each flagged item failed (``degenerate.json``)."""
    models: dict[str, Any] = {}
    for model in sheet.models:
        flags: list[float] = []
        rules: Counter[str] = Counter()
        items: dict[str, str] = {}
        for item in sheet.items:
            answer = sheet.answers[item.id].get(model)
            if answer is None:
                continue
            rule = flag(item.prompt(), answer, settings)
            flags.append(1.0 if rule else 0.0)
            if rule:
                rules[rule] += 1
                items[item.id] = rule
        share = bootstrap_mean(flags)
        models[model] = {
            "answers": len(flags),
            "flagged": int(sum(flags)),
            "share": share.as_dict() if share else None,
            "rules": dict(rules),
            "items": items,
        }
    return {"rules": sorted(settings.rules), "models": models}
