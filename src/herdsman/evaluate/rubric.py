"""The paper's four-level rubric for answers to user instructions, shared by the judge, raters and tables.

A = valid, acceptable and satisfying; B = acceptable but with minor errors
that can be improved; C = relevant and responsive but with significant errors
in content; D = invalid and unacceptable. The LLM judge, the human rating app,
the report and the terminal tables all read the grades, their meanings and
their points from here, so they cannot disagree.
"""

from __future__ import annotations

GRADES: tuple[str, ...] = ("A", "B", "C", "D")
#: What each grade means, in the paper's words.
MEANINGS: dict[str, str] = {
    "A": "valid, acceptable and satisfying",
    "B": "acceptable, with minor errors that can be improved",
    "C": "relevant and responsive, but with significant errors in content",
    "D": "invalid and unacceptable",
}
#: Points for averages and agreement statistics: A = 4 ... D = 1.
POINTS: dict[str, int] = {g: len(GRADES) - i for i, g in enumerate(GRADES)}

#: The rubric as the judge reads it.
RUBRIC = (
    "You are grading the answer of an AI assistant to a user's instruction. Use this rubric:\n"
    + "".join(f"{g}: the answer is {MEANINGS[g]}.\n" for g in GRADES)
    + "Reply with the grade letter first (A, B, C or D), then optionally one sentence of reason."
)
