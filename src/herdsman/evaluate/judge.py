"""LLM judge: the paper's A-D rubric, and pairwise comparison in both orders.

Every judge call goes through the run store (:func:`herdsman.store.calls.execute`),
so judgements are cached: re-running costs nothing, a crash loses only the
calls in flight.

Grades are a constrained choice wherever the teacher can give one: local and
vLLM teachers (and OpenAI-compatible servers that return ``logprobs``) report
the probability of each grade letter as the first token of the reply, so every
answer is graded, with its distribution and expected grade recorded (a small
teacher that rambles in free text still grades). Where only free text comes
back, replies are parsed strictly: a grade is a reply that *starts* with one
letter A-D (optionally ``Grade:`` and brackets); anything else is asked again
once with a reminder (a different prompt, hence a different call), and then
recorded as ``unparsed``: never guessed from the text.

Pairwise mode asks for both orders (A first, then B first); when the two
verdicts disagree the pair is a tie. Bias statistics: how often the first
position wins, how often the two orders agree, how often the longer answer
wins, and how grades correlate with answer length.
"""

from __future__ import annotations

import itertools
import json
import re
import string
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from herdsman.evaluate.answer_sheets import AnswerSheet, Item
from herdsman.evaluate.intervals import bootstrap_mean, paired_difference, verdict
from herdsman.evaluate.rubric import GRADES, POINTS, RUBRIC
from herdsman.records import SamplingParams
from herdsman.store.calls import CallStats, execute
from herdsman.store.run_store import RunStore, call_key
from herdsman.teachers.base import CHOICE, ChatRequest, Teacher

GRADE_PROMPT = """\
{rubric}

### Instruction:
{instruction}

### Answer:
{answer}

### Grade:"""
#: MT-Bench's reference-guided grading: the judge sees a reference answer (the teacher's).
GRADE_REFERENCE_PROMPT = """\
{rubric}
A reference answer is given: grade how well the answer does the task, using the reference \
to check its content.

### Instruction:
{instruction}

### Reference answer:
{reference}

### Answer:
{answer}

### Grade:"""
PAIR_PROMPT = """\
Two AI assistants answered the same instruction. Which answer is better: more helpful, \
correct and relevant? Reply with 1 or 2 first (or "tie" when they are equally good), then \
optionally one sentence of reason.

### Instruction:
{instruction}

### Answer 1:
{first}

### Answer 2:
{second}

### Better answer:"""
REMINDER = (
    "Your previous reply did not start with a valid verdict. Reply again, starting with {allowed}."
)
JUDGE_SAMPLING = SamplingParams(temperature=0.0, max_tokens=48)
#: The constrained choice of a pairwise verdict: the first token of the reply.
PAIR_CHOICES: tuple[str, ...] = ("1", "2")


def grade_prompt(instruction: str, answer: str, reference: str | None = None) -> str:
    """The A-D rubric prompt grading one answer to one instruction (with a reference answer
    when one is given: reference-guided grading)."""
    if reference is not None:
        return GRADE_REFERENCE_PROMPT.format(
            rubric=RUBRIC, instruction=instruction, reference=reference, answer=answer
        )
    return GRADE_PROMPT.format(rubric=RUBRIC, instruction=instruction, answer=answer)


def _reader(template: str, **fields: str) -> re.Pattern[str]:
    """A regex matching exactly what ``template.format`` makes, each field matched by ``fields``.

    Derived from the template itself, so the prompt and its reader cannot drift apart.
    """
    parts = []
    for literal, name, _spec, _conversion in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if name is not None:
            parts.append(fields[name])
    return re.compile(r"\A" + "".join(parts) + r"\Z", re.DOTALL)


_GRADE_READER = _reader(
    GRADE_PROMPT, rubric=re.escape(RUBRIC), instruction=".*?", answer="(?P<answer>.*)"
)


_GRADE_REFERENCE_READER = _reader(
    GRADE_REFERENCE_PROMPT,
    rubric=re.escape(RUBRIC),
    instruction=".*?",
    reference="(?P<reference>.*?)",
    answer="(?P<answer>.*)",
)


def answer_under_grading(prompt: str) -> str | None:
    """The answer a :func:`grade_prompt` prompt asks to grade, or ``None`` if it is not one."""
    match = _GRADE_READER.match(prompt) or _GRADE_REFERENCE_READER.match(prompt)
    return match.group("answer") if match else None


_PAIR_READER = _reader(
    PAIR_PROMPT, instruction=".*?", first="(?P<first>.*?)", second="(?P<second>.*)"
)


def answers_under_comparison(prompt: str) -> tuple[str, str] | None:
    """The two answers a pairwise prompt compares, in the order shown, else ``None``."""
    match = _PAIR_READER.match(prompt)
    return (match.group("first"), match.group("second")) if match else None


def reference_under_grading(prompt: str) -> str | None:
    """The reference answer of a reference-guided :func:`grade_prompt` prompt, else ``None``."""
    match = _GRADE_REFERENCE_READER.match(prompt)
    return match.group("reference") if match else None


# The letter must stand alone: "A.", "B:", "(C)", "**D**", "Grade: a", but not "A good answer".
_GRADE_RE = re.compile(
    r"^\W*(?:grade\s*[:=\-]?\s*)?[\(\[\*]*([ABCD])(?=\s*$|[.:,;)\]\*\-\n]|\s+[-(:])",
    re.IGNORECASE,
)
_PAIR_RE = re.compile(
    r"^\W*(?:(?:answer|better answer|response)\s*[:=\-]?\s*)?[\(\[\*#]*(1|2|tie)\b", re.IGNORECASE
)


_LABEL_LINE_RE = re.compile(r"^\W*([ABCD])\s*[:.)\-]", re.MULTILINE)


def parse_grade(reply: str) -> str | None:
    """The grade a reply starts with, or ``None``.

    Lower-case letters count only after ``Grade:``; a reply that labels lines
    with more than one grade (reciting the rubric) is not a grade.
    """
    if len(set(_LABEL_LINE_RE.findall(reply))) > 1:
        return None
    match = _GRADE_RE.match(reply)
    if not match:
        return None
    letter = match.group(1)
    if letter.islower() and not re.match(r"^\W*grade", reply, re.IGNORECASE):
        return None  # "a good answer..." is prose, not a grade
    return letter.upper()


def parse_preference(reply: str) -> Literal["1", "2", "tie"] | None:
    """``"1"``, ``"2"`` or ``"tie"`` when the reply starts with one, else ``None``."""
    match = _PAIR_RE.match(reply)
    if not match:
        return None
    value = match.group(1).lower()
    return "tie" if value == "tie" else ("1" if value == "1" else "2")


@dataclass
class Judgement:
    """One graded answer.

    ``distribution`` is the judge's probability of each grade (constrained
    choice; ``None`` for a free-text grade) and ``expected`` the expected
    points (A = 4 ... D = 1) under it, or the grade's points.
    """

    item: str
    model: str
    grade: str | None
    status: Literal["graded", "unparsed", "failed"]
    reply: str | None
    attempts: int
    answer_words: int
    distribution: dict[str, float] | None = None
    expected: float | None = None


@dataclass
class PairVerdict:
    """Both orders of one pair, and the combined verdict."""

    item: str
    model_a: str
    model_b: str
    a_first: str | None
    b_first: str | None
    winner: str | None
    status: Literal["decided", "tie", "disagreement", "unparsed", "failed"]
    longer: str | None


@dataclass
class JudgeReport:
    """Everything one judge run produced."""

    judgements: list[Judgement] = field(default_factory=list)
    pairs: list[PairVerdict] = field(default_factory=list)
    stats: CallStats = field(default_factory=CallStats)

    def grade_counts(self) -> dict[str, dict[str, int]]:
        """Per model: counts of A, B, C, D and unparsed/failed."""
        out: dict[str, dict[str, int]] = {}
        for j in self.judgements:
            row = out.setdefault(j.model, {g: 0 for g in (*GRADES, "unparsed", "failed")})
            row[j.grade or j.status] += 1
        return out

    def expected_grades(self) -> dict[str, dict[str, Any]]:
        """Per model: the mean expected grade points (A=4..D=1) with its 95% interval over items."""
        by_model: dict[str, list[float]] = {}
        for j in self.judgements:
            if j.expected is not None:
                by_model.setdefault(j.model, []).append(j.expected)
        out = {}
        for model, values in by_model.items():
            interval = bootstrap_mean(values)
            if interval is not None:
                out[model] = interval.as_dict()
        return out

    def comparisons(self, pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """Paired ``student - base`` differences of expected grade points on the items both got."""
        points: dict[tuple[str, str], float] = {
            (j.model, j.item): j.expected for j in self.judgements if j.expected is not None
        }
        out = []
        for student, base in pairs:
            items = sorted(
                {i for m, i in points if m == student} & {i for m, i in points if m == base}
            )
            diff = paired_difference(
                [points[(student, i)] for i in items], [points[(base, i)] for i in items]
            )
            if diff is not None:
                out.append(
                    {
                        "student": student,
                        "base": base,
                        "expected_points": diff.as_dict(),
                        "verdict": verdict(diff, "grade-point gain"),
                    }
                )
        return out

    def as_dict(self, pairs: list[tuple[str, str]] | None = None) -> dict[str, Any]:
        """JSON-ready summary and records (``pairs``: ``(student, base)`` to compare)."""
        return {
            "grades": self.grade_counts(),
            "expected": self.expected_grades(),
            "comparisons": self.comparisons(pairs or []),
            "bias": bias_statistics(self),
            "judgements": [asdict(j) for j in self.judgements],
            "pairs": [asdict(p) for p in self.pairs],
            "calls": asdict(self.stats),
        }


def _words(text: str) -> int:
    return len(text.split())


class _Asker:
    """Runs a batch of prompts through the store, with one reminder retry for unparsable replies."""

    def __init__(
        self,
        teacher: Teacher,
        store: RunStore,
        stats: CallStats,
        on_progress: Callable[[], None] | None,
    ) -> None:
        self.teacher, self.store, self.stats, self.on_progress = teacher, store, stats, on_progress
        self.sampling = JUDGE_SAMPLING.model_dump()

    def request(
        self, messages: tuple[dict[str, str], ...], choices: tuple[str, ...] | None = None
    ) -> ChatRequest:
        extra: dict[str, Any] = {"judge": 1}
        if choices:
            extra["choices"] = "".join(choices)
        key = call_key(
            self.teacher.backend,
            self.teacher.model,
            messages,
            self.sampling,
            extra,
            endpoint=self.teacher.endpoint,
        )
        return ChatRequest(key=key, messages=messages, sampling=JUDGE_SAMPLING, choices=choices)

    def ask(
        self,
        prompts: list[str],
        parse: Callable[[str], Any],
        allowed: str,
        retries: int,
        choices: tuple[str, ...] | None = None,
    ) -> list[tuple[Any, str | None, int, bool]]:
        """For each prompt: (parsed or None, last reply, attempts, call failed).

        With ``choices``, a teacher that gives a distribution over them answers
        with it: parsed is then ``(the likeliest choice, the distribution)``.
        """
        conversations: list[tuple[dict[str, str], ...]] = [
            ({"role": "user", "content": p},) for p in prompts
        ]
        outcome: list[tuple[Any, str | None, int, bool]] = [(None, None, 0, False)] * len(prompts)
        todo = list(range(len(prompts)))
        for attempt in range(retries + 1):
            requests = [self.request(conversations[i], choices) for i in todo]
            run = execute(self.teacher, self.store, requests, "judge", self.on_progress)
            merge_stats(self.stats, run)
            results = self.store.get_many([r.key for r in requests])
            again = []
            for index, request in zip(todo, requests, strict=True):
                result = results.get(request.key)
                if result is None or not result.ok or result.text is None:
                    outcome[index] = (None, None, attempt + 1, True)
                    continue
                if result.finish_reason == CHOICE:
                    distribution = {k: float(v) for k, v in json.loads(result.text).items()}
                    # Near-equal probabilities (another batch, another machine) must not
                    # change the grade: compare rounded, ties to the earlier (better) letter.
                    order = list(distribution)
                    best = min(order, key=lambda c: (-round(distribution[c], 9), order.index(c)))
                    outcome[index] = ((best, distribution), None, attempt + 1, False)
                    continue
                parsed = parse(result.text)
                if parsed is not None and choices:
                    parsed = (parsed, None)
                outcome[index] = (parsed, result.text, attempt + 1, False)
                if parsed is None:
                    conversations[index] = (
                        *conversations[index],
                        {"role": "assistant", "content": result.text},
                        {"role": "user", "content": REMINDER.format(allowed=allowed)},
                    )
                    again.append(index)
            todo = again
            if not todo:
                break
        return outcome


def merge_stats(total: CallStats, run: CallStats) -> None:
    """Add one run's call counts, tokens and cost to ``total``."""
    for name in ("cached", "ok", "failed", "truncated", "prompt_tokens", "completion_tokens"):
        setattr(total, name, getattr(total, name) + getattr(run, name))
    total.cost += run.cost
    total.priced = total.priced or run.priced


def grade_answers(
    sheet: AnswerSheet,
    teacher: Teacher,
    store: RunStore,
    retries: int = 1,
    on_progress: Callable[[], None] | None = None,
    constrained: bool = True,
    references: dict[str, str] | None = None,
    report: JudgeReport | None = None,
) -> JudgeReport:
    """Grade every answer in the sheet with the A-D rubric.

    Args:
        sheet: The answers, by item and model.
        teacher: The judge.
        store: The run store (judgements are cached there).
        retries: Reminders for a free-text reply that is not a grade.
        on_progress: Called once per judge call.
        constrained: Ask for the grade letters' probabilities where the teacher
            can give them (off: free text only, strictly parsed).
        references: Reference answers by item id: reference-guided grading
            (``None``: the rubric alone).
        report: Add to this report (its call counts too) instead of a new one.
    """
    report = report if report is not None else JudgeReport()
    asker = _Asker(teacher, store, report.stats, on_progress)
    jobs = [(item, model) for item in sheet.items for model in sheet.answers[item.id]]
    prompts = [
        grade_prompt(
            item.prompt(),
            sheet.answers[item.id][model],
            None if references is None else references.get(item.id),
        )
        for item, model in jobs
    ]
    choices = GRADES if constrained else None
    answers = asker.ask(prompts, parse_grade, "A, B, C or D", retries, choices=choices)
    for (item, model), (parsed, reply, attempts, failed) in zip(jobs, answers, strict=True):
        grade, distribution = (
            (parsed if constrained else (parsed, None)) if parsed else (None, None)
        )
        status: Literal["graded", "unparsed", "failed"] = (
            "failed" if failed else ("graded" if grade else "unparsed")
        )
        if distribution:
            expected: float | None = sum(POINTS[g] * p for g, p in distribution.items())
        else:
            expected = float(POINTS[grade]) if grade else None
        report.judgements.append(
            Judgement(
                item.id,
                model,
                grade,
                status,
                reply,
                attempts,
                _words(sheet.answers[item.id][model]),
                distribution,
                expected,
            )
        )
    return report


def _pairs(sheet: AnswerSheet, models: list[str]) -> Iterator[tuple[Item, str, str]]:
    for item in sheet.items:
        answered = [m for m in models if m in sheet.answers[item.id]]
        for a, b in itertools.combinations(answered, 2):
            yield item, a, b


def compare_pairs(
    sheet: AnswerSheet,
    teacher: Teacher,
    store: RunStore,
    models: list[str] | None = None,
    retries: int = 1,
    on_progress: Callable[[], None] | None = None,
    report: JudgeReport | None = None,
    constrained: bool = True,
) -> JudgeReport:
    """Judge every pair of models on every item, in both orders.

    With ``constrained``, a teacher that can answers by the probabilities of
    "1" and "2" as the reply's first token (the likelier wins; a constrained
    choice cannot say "tie", the two orders disagreeing is the tie); otherwise,
    or where only free text comes back, the reply is parsed strictly.
    """
    report = report or JudgeReport()
    asker = _Asker(teacher, store, report.stats, on_progress)
    jobs = list(_pairs(sheet, models or sheet.models))
    prompts = []
    for item, a, b in jobs:
        answers = sheet.answers[item.id]
        for first, second in ((a, b), (b, a)):
            prompts.append(
                PAIR_PROMPT.format(
                    instruction=item.prompt(), first=answers[first], second=answers[second]
                )
            )
    raw = asker.ask(
        prompts, parse_preference, "1, 2 or tie", retries,
        choices=PAIR_CHOICES if constrained else None,
    )  # fmt: skip
    # A constrained answer is (choice, distribution); keep the choice.
    replies = [(p[0] if isinstance(p, tuple) else p, *rest) for p, *rest in raw]
    for n, (item, a, b) in enumerate(jobs):
        ab, ba = replies[2 * n], replies[2 * n + 1]
        answers = sheet.answers[item.id]
        la, lb = _words(answers[a]), _words(answers[b])
        longer = a if la > lb else b if lb > la else None
        verdict_ab = {"1": a, "2": b, "tie": "tie"}.get(ab[0]) if ab[0] else None
        verdict_ba = {"1": b, "2": a, "tie": "tie"}.get(ba[0]) if ba[0] else None
        if ab[3] or ba[3]:
            status, winner = "failed", None
        elif verdict_ab is None or verdict_ba is None:
            status, winner = "unparsed", None
        elif verdict_ab == verdict_ba:
            status, winner = ("tie", None) if verdict_ab == "tie" else ("decided", verdict_ab)
        else:
            status, winner = "disagreement", None
        report.pairs.append(
            PairVerdict(item.id, a, b, ab[0], ba[0], winner, status, longer)  # type: ignore[arg-type]
        )
    return report


def _spearman(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < 3 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return None
    from scipy.stats import spearmanr

    value = float(spearmanr(xs, ys).statistic)
    return value if value == value else None


def bias_statistics(report: JudgeReport) -> dict[str, Any]:
    """Position and length bias of the judge.

    - ``first_position_rate``: of the single-order verdicts that picked an answer,
      the share that picked the one shown first (0.5 = no position bias);
    - ``order_agreement``: of pairs with both orders parsed, the share where both agree;
    - ``longer_wins_rate``: of decided pairs with a longer answer, the share the longer won;
    - ``grade_length_spearman``: rank correlation of grade points (A=4..D=1; the expected
      points under a constrained choice) and answer words;
    - ``mean_words_by_grade``: mean answer length per grade.
    """
    picks = [v for p in report.pairs for v in (p.a_first, p.b_first) if v in ("1", "2")]
    parsed = [p for p in report.pairs if p.status in ("decided", "tie", "disagreement")]
    decided = [p for p in report.pairs if p.status == "decided" and p.longer]
    graded = [j for j in report.judgements if j.grade]
    words_by_grade: dict[str, list[int]] = {}
    for j in graded:
        words_by_grade.setdefault(j.grade or "", []).append(j.answer_words)
    statuses = Counter(j.status for j in report.judgements)
    return {
        "graded": statuses.get("graded", 0),
        "unparsed": statuses.get("unparsed", 0),
        "failed": statuses.get("failed", 0),
        "pairs": len(report.pairs),
        "pair_status": dict(Counter(p.status for p in report.pairs)),
        "first_position_rate": (picks.count("1") / len(picks)) if picks else None,
        "order_agreement": (
            sum(p.status != "disagreement" for p in parsed) / len(parsed) if parsed else None
        ),
        "longer_wins_rate": (
            sum(p.winner == p.longer for p in decided) / len(decided) if decided else None
        ),
        "grade_length_spearman": _spearman(
            [j.expected if j.expected is not None else POINTS[j.grade or "D"] for j in graded],
            [j.answer_words for j in graded],
        ),
        "mean_words_by_grade": {g: sum(v) / len(v) for g, v in sorted(words_by_grade.items())},
    }
