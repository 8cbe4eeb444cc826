"""Generation prompts in the paper's shape, versioned and overridable, with seeded sampling.

Example-guided (the paper's prompt shape)::

    <example>seed 1</example>
    <example>seed 2</example>
    <example>seed 3</example>

    Generate 20 diverse examples that are similar to the provided examples.
    You do not need to provide a response to the generated examples.
    ...

Topic-guided adds ``with the topics "T1, T2, T3"`` and uses Self-Instruct-style
seeds only. P3/FLAN seeds: the three examples come from one subset (a P3
template or FLAN task) and 10 are asked per call, since those examples are long.

A template file (YAML or JSON) may set ``version``, ``example`` and ``topic``;
placeholders are ``{examples}``, ``{n}`` and ``{topics}``.
:func:`requested_count` reads back how many examples a prompt built here asks for.
"""

from __future__ import annotations

import functools
import hashlib
import random
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from herdsman.errors import HerdsmanError, InputError
from herdsman.io.mapping_file import read_mapping
from herdsman.records import Seed, render_instruction

_REQUIREMENTS = (
    "You do not need to provide a response to the generated examples.\n"
    "Each example must include an instruction.\n"
    "Each generated instruction can be either an imperative sentence or a question.\n"
    'Each example must start with the label "<example>" and end with the label "</example>".'
)
EXAMPLE_TEMPLATE = (
    "{examples}\n\n"
    "Generate {n} diverse examples that are similar to the provided examples.\n" + _REQUIREMENTS
)
TOPIC_TEMPLATE = (
    "{examples}\n\n"
    'Generate {n} diverse examples that are similar to the provided examples with the topics "{topics}".\n'
    + _REQUIREMENTS
)
SUBSET_SOURCES = frozenset({"p3", "flan"})


@dataclass(frozen=True)
class PromptTemplate:
    """A versioned pair of generation templates."""

    version: str = "lamini-v1"
    example: str = EXAMPLE_TEMPLATE
    topic: str = TOPIC_TEMPLATE

    @classmethod
    def from_file(cls, path: str | Path) -> PromptTemplate:
        """Defaults overridden by a YAML/JSON file with ``version``, ``example``, ``topic``."""
        path = Path(path)
        data, text = read_mapping(path, "template", "with version/example/topic")
        unknown = set(data) - {"version", "example", "topic"}
        if unknown:
            raise InputError(str(path), None, f"unknown key(s) {', '.join(sorted(unknown))}")
        base = cls()
        template = cls(
            version=str(
                data.get("version") or f"custom-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
            ),
            example=str(data.get("example", base.example)),
            topic=str(data.get("topic", base.topic)),
        )
        for name in ("example", "topic"):
            body = getattr(template, name)
            if "{examples}" not in body or "{n}" not in body:
                raise InputError(
                    str(path),
                    None,
                    f"field '{name}': needs the {{examples}} and {{n}} placeholders",
                )
        if "{topics}" not in template.topic:
            raise InputError(str(path), None, "field 'topic': needs the {topics} placeholder")
        return template


def render_example(seed: Seed) -> str:
    """One seed as an ``<example>`` line (its input, if any, after a blank line)."""
    return f"<example>{render_instruction(seed.instruction, seed.input)}</example>"


def fill(template: str, examples: list[Seed], n: int, topics: list[str] | None = None) -> str:
    """Fill a template's placeholders (plain replacement: braces elsewhere are left alone)."""
    text = template.replace("{examples}", "\n".join(render_example(s) for s in examples))
    text = text.replace("{n}", str(n))
    return text.replace("{topics}", ", ".join(topics or []))


_PLACEHOLDER = re.compile(r"\{(examples|n|topics)\}")


@functools.lru_cache(maxsize=32)
def _reader(template: str) -> re.Pattern[str]:
    """A regex matching exactly what :func:`fill` makes of ``template``, capturing ``n``.

    Derived from the template itself, so the two cannot drift apart: the
    template's text is matched literally, ``{examples}`` and ``{topics}`` match
    any text and every ``{n}`` the same number.
    """
    parts, at, seen_n = [], 0, False
    for match in _PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[at : match.start()]))
        if match.group(1) != "n":
            parts.append(".*?")
        else:
            parts.append(r"(?P=n)" if seen_n else r"(?P<n>\d+)")
            seen_n = True
        at = match.end()
    parts.append(re.escape(template[at:]))
    return re.compile(r"\A" + "".join(parts) + r"\Z", re.DOTALL)


def requested_count(prompt: str, template: PromptTemplate | None = None) -> int | None:
    """How many examples a generation prompt asks for, or ``None`` if it is not one.

    Args:
        prompt: A user prompt, as :meth:`Planner.plan` builds them.
        template: The templates it was built from (default: the built-in ones).
    """
    template = template or PromptTemplate()
    for body in (template.example, template.topic):
        match = _reader(body).match(prompt)
        if match:
            return int(match.group("n"))
    return None


@dataclass(frozen=True)
class PlannedCall:
    """One generation call, fully determined by the run's seed and its index."""

    index: int
    prompt: str
    seeds: tuple[Seed, ...]
    subset: str
    topics: tuple[str, ...]
    per_call: int
    source: str  # instruction_source of what it yields


class Planner:
    """Samples the examples (and topics) of call *i* reproducibly.

    Args:
        strategy: ``example`` or ``topic``.
        seeds: The seed pool.
        template: Prompt templates.
        topics: Topic list (topic strategy).
        n_examples: Examples per prompt (3).
        per_call: Instructions asked per call; default 20, or 10 when the
            examples come from P3/FLAN subsets.
        topics_per_prompt: Topics named per prompt (3).
        seed: Random seed; call *i* uses ``Random(f"{seed}:{i}")``.
        weights: Relative share of calls drawing their examples from each seed
            ``origin`` (a configured seed source); ``None``: every seed is
            equally likely, whatever its source.

    Raises:
        HerdsmanError: Too few seeds to sample from (see :meth:`groups`).
    """

    def __init__(
        self,
        strategy: str,
        seeds: list[Seed],
        template: PromptTemplate | None = None,
        topics: list[str] | None = None,
        n_examples: int = 3,
        per_call: int | None = None,
        topics_per_prompt: int = 3,
        seed: int = 42,
        weights: dict[str, float] | None = None,
    ) -> None:
        if strategy not in ("example", "topic"):
            raise HerdsmanError(f"--strategy must be example or topic, not '{strategy}'")
        self.strategy = strategy
        self.template = template or PromptTemplate()
        self.n_examples = n_examples
        self.per_call = per_call
        self.topics_per_prompt = topics_per_prompt
        self.seed = seed
        self.topics = list(topics or [])
        if strategy == "topic":
            if not self.topics:
                raise HerdsmanError(
                    "topic-guided generation needs --topics (a file with one topic per line)"
                )
            seeds = [s for s in seeds if s.source not in SUBSET_SOURCES]
            if not seeds:
                raise HerdsmanError(
                    "topic-guided generation uses Self-Instruct-style seeds; the seeds are all P3/FLAN"
                )
        self.groups, self.skipped_subsets = self._group(seeds)
        self._weights: list[float] = [len(g) for _, g in self.groups]
        if weights:
            self._apply_weights(weights)

    def _apply_weights(self, weights: dict[str, float]) -> None:
        """Split groups by origin; an origin's share is spread over its groups by size."""
        split: list[tuple[str, list[Seed]]] = []
        for name, group in self.groups:
            by_origin: dict[str, list[Seed]] = defaultdict(list)
            for s in group:
                by_origin[s.origin or ""].append(s)
            split += [(name, g) for _, g in sorted(by_origin.items()) if len(g) >= self.n_examples]
        if not split:
            raise HerdsmanError(
                f"no seed source has {self.n_examples} seeds to draw examples from together"
            )
        sizes: dict[str, int] = defaultdict(int)
        for _, group in split:
            sizes[group[0].origin or ""] += len(group)
        self.groups = split
        self._weights = [
            weights.get(g[0].origin or "", 1.0) * len(g) / sizes[g[0].origin or ""]
            for _, g in split
        ]

    def _group(self, seeds: list[Seed]) -> tuple[list[tuple[str, list[Seed]]], list[str]]:
        """Pool seeds together; P3/FLAN seeds by subset. Subsets too small to sample are skipped."""
        pool: list[Seed] = []
        subsets: dict[str, list[Seed]] = defaultdict(list)
        for s in seeds:
            if s.source in SUBSET_SOURCES and self.strategy == "example":
                subsets[f"{s.source}:{s.subset}"].append(s)
            else:
                pool.append(s)
        groups: list[tuple[str, list[Seed]]] = []
        skipped: list[str] = []
        if pool:
            if len(pool) < self.n_examples:
                raise HerdsmanError(
                    f"need at least {self.n_examples} seeds to sample examples, got {len(pool)}"
                )
            groups.append(("", pool))
        for name in sorted(subsets):
            if len(subsets[name]) >= self.n_examples:
                groups.append((name, subsets[name]))
            else:
                skipped.append(name)
        if not groups:
            raise HerdsmanError(
                f"no subset has {self.n_examples} seeds to draw examples from "
                f"({len(skipped)} subset(s) too small: {', '.join(skipped[:3])}...)"
            )
        return groups, skipped

    def plan(self, index: int) -> PlannedCall:
        """The prompt of call ``index`` (same index, same prompt, every run)."""
        rng = random.Random(f"{self.seed}:{self.strategy}:{index}")
        name, group = rng.choices(self.groups, weights=self._weights)[0]
        examples = rng.sample(group, self.n_examples)
        from_subset = bool(name)
        per_call = self.per_call or (10 if from_subset else 20)
        if self.strategy == "topic":
            topics = rng.sample(self.topics, min(self.topics_per_prompt, len(self.topics)))
            prompt = fill(self.template.topic, examples, per_call, topics)
            source = "self_instruct_with_topic"
        else:
            topics = []
            prompt = fill(self.template.example, examples, per_call)
            source = (
                f"generated_{name.split(':', 1)[0]}"
                if from_subset
                else "self_instruct_without_topic"
            )
        return PlannedCall(
            index=index,
            prompt=prompt,
            seeds=tuple(examples),
            subset=name.split(":", 1)[1] if from_subset else "",
            topics=tuple(topics),
            per_call=per_call,
            source=source,
        )
