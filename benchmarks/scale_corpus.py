"""A realistic LaMini-sized corpus, assembled locally and reproducibly from real texts.

herdsman's CPU stages are measured at the paper's scale (2.58M pairs) on a
corpus that costs no teacher call: instructions and responses are put
together from the real texts of the public test data (docs/testing.md):
Alpaca instructions, inputs and outputs, Self-Instruct's seed and
user-oriented tasks with their instances and three models' answers, and P3's
templated prompts and completions.

Every row is one of:

- **fresh** (the rest): a real instruction of the row's source pool with a
  share of its words replaced by words drawn from the real texts (so rows
  share template words, as generated instructions do: the hard case for a
  near-duplicate filter), sometimes spliced with a second one; for
  ``self_instruct_with_topic``, the opening words of a real instruction, a
  few words and a topic, so rows come in families of look-alikes as
  topic-guided generation makes them;
- **exact duplicate** (``--exact``, default 3%): an earlier row again, with its
  case or spacing changed;
- **near duplicate** (``--near``, default 10%): an earlier row with a
  one-word edit, two words swapped, a word dropped, or a clause added.

``instruction_source`` follows a fixed mix of LaMini's seven source labels
(:data:`MIX`, rounded; P3 templates stand in for FLAN, which the test data
lacks). Responses are real answers of the same pool, one to four joined, so
lengths vary as real ones do. The row stream is a function of the seed alone
and each size is a prefix of the larger ones, so the curve's points are
nested samples of one corpus.

Usage: python benchmarks/scale_corpus.py OUT.jsonl --rows 2580000 [--data DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tests.helpers
from tests.helpers.data import public_data

#: Share of each ``instruction_source`` (rounded, modelled on LaMini's mix).
MIX = {
    "alpaca": 0.30,
    "generated_flan": 0.25,
    "original_flan": 0.12,
    "generated_p3": 0.13,
    "original_p3": 0.05,
    "self_instruct_with_topic": 0.10,
    "self_instruct_without_topic": 0.05,
}
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_RECENT = 200_000  # duplicates copy one of the last this many rows


@dataclass
class Pools:
    """The real texts rows are assembled from, per source family."""

    instructions: dict[str, list[str]] = field(default_factory=dict)
    responses: dict[str, list[str]] = field(default_factory=dict)
    words: list[str] = field(default_factory=list)
    clauses: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)


def load_pools(data: Path) -> Pools:
    """Read the public texts into pools (``alpaca``, ``p3``, ``self_instruct``)."""
    pools = Pools()
    alpaca = json.loads((data / "alpaca" / "alpaca_5000.json").read_text())
    pools.instructions["alpaca"] = [
        r["instruction"] + (f"\n\n{r['input']}" if r["input"] else "") for r in alpaca
    ]
    pools.responses["alpaca"] = [r["output"] for r in alpaca if r["output"].strip()]
    p3_prompts, p3_answers = [], []
    for path in sorted((data / "p3_templates").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            p3_prompts.append(row["prompt"].strip())
            answer = row["completion"].replace("<|endoftext|>", "").strip()
            if answer:
                p3_answers.append(answer)
    pools.instructions["p3"] = p3_prompts
    pools.responses["p3"] = p3_answers
    si_instructions, si_answers = [], []
    si = data / "self_instruct"
    for name in ("seed_tasks.jsonl", "user_oriented_instructions.jsonl"):
        for line in (si / name).read_text().splitlines():
            row = json.loads(line)
            si_instructions.append(row["instruction"])
            si_answers += [i["output"] for i in row.get("instances", []) if i.get("output")]
    for path in sorted((si / "predictions").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            answer = json.loads(line).get("response") or ""
            if answer.strip():
                si_answers.append(answer.strip())
    pools.instructions["self_instruct"] = si_instructions + pools.instructions["alpaca"]
    pools.responses["self_instruct"] = si_answers + pools.responses["alpaca"]
    for texts in (*pools.instructions.values(), *pools.responses.values()):
        for text in texts:
            pools.words += text.split()
            pools.clauses += [s for s in _SENTENCE.split(text) if 3 <= len(s.split()) <= 16]
    pools.topics = sorted({w.strip(".,:;!?\"'()") for w in pools.words if w[:1].isupper()} - {""})
    return pools


def _family(source: str) -> str:
    if source == "alpaca":
        return "alpaca"
    if source.startswith("self_instruct"):
        return "self_instruct"
    return "p3"


def _fresh(rng: random.Random, pools: Pools, source: str) -> str:
    family = _family(source)
    if source == "self_instruct_with_topic":  # one real opening, a topic: families of look-alikes
        opening = rng.choice(pools.instructions[family]).split()[: rng.randint(4, 9)]
        tail = [rng.choice(pools.words) for _ in range(rng.randint(0, 4))]
        return " ".join([*opening, *tail, "about", rng.choice(pools.topics)]) + "."
    words = rng.choice(pools.instructions[family]).split()
    if source.startswith("generated_") and len(words) > 40:  # generated ones are shorter
        start = rng.randrange(len(words) - 40)
        words = words[start : start + 40]
    if rng.random() < 0.6:  # a splice of two real instructions, cut anywhere
        other = rng.choice(pools.instructions[family]).split()
        words = words[: rng.randint(1, len(words))] + other[rng.randrange(len(other)) :]
    share = rng.uniform(0.25, 0.65)
    words = [rng.choice(pools.words) if rng.random() < share else w for w in words]
    return " ".join(words)


def _near(rng: random.Random, pools: Pools, text: str) -> str:
    words = text.split()
    kind = rng.randrange(4)
    i = rng.randrange(len(words))
    if kind == 0:
        words[i] = rng.choice(pools.words)
    elif kind == 1 and len(words) > 1:
        j = min(i + 1, len(words) - 1) if i + 1 < len(words) else i - 1
        words[i], words[j] = words[j], words[i]
    elif kind == 2 and len(words) > 3:
        del words[i]
    else:
        words.append(rng.choice(pools.clauses))
    return " ".join(words)


def _respell(rng: random.Random, text: str) -> str:
    return text.upper() if rng.random() < 0.3 else "  ".join(text.split(" ")) + " "


def rows(
    pools: Pools,
    count: int,
    seed: int = 0,
    exact: float = 0.03,
    near: float = 0.10,
    planted: list[tuple[int, str]] | None = None,
) -> Iterator[dict[str, Any]]:
    """The first ``count`` rows of the corpus (LaMini records as ``respond`` writes them).

    With ``planted``, each near duplicate's row number and the instruction it
    was made from are appended to it (the pairs a dedup recall is measured on).
    """
    rng = random.Random(seed)
    sources, weights = list(MIX), list(MIX.values())
    recent: list[tuple[str, str]] = []
    for n in range(count):
        draw = rng.random()
        if recent and draw < exact:
            instruction, source = rng.choice(recent)
            instruction = _respell(rng, instruction)
        elif recent and draw < exact + near:
            original, source = rng.choice(recent)
            instruction = _near(rng, pools, original)
            if planted is not None:
                planted.append((n, original))
        else:
            source = rng.choices(sources, weights)[0]
            instruction = _fresh(rng, pools, source)
        if len(recent) < _RECENT:
            recent.append((instruction, source))
        else:
            recent[rng.randrange(_RECENT)] = (instruction, source)
        answers = pools.responses[_family(source)]
        response = "\n\n".join(
            rng.choice(answers) for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4)))
        )
        digest = hashlib.sha256(f"{seed}:{n}".encode()).hexdigest()
        yield {
            "instruction": instruction,
            "response": response,
            "instruction_source": source,
            "id": f"scale-{n}",
            "teacher": "openai",
            "model": "gpt-3.5-turbo",
            "call_key": digest,
            "prompt_hash": digest[:16],
            "sampling": {"temperature": 0.0, "max_tokens": 512},
            "finish_reason": "stop",
            "prompt_tokens": len(instruction) // 4 + 12,
            "completion_tokens": len(response) // 4,
            "created_at": "2026-12-02T00:00:00+00:00",
        }


def write_corpus(out: Path, count: int, data: Path | None = None, seed: int = 0) -> Path:
    """Write the first ``count`` rows to ``out`` (JSONL) and return it."""
    pools = load_pools(data or public_data())
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as handle:
        for row in rows(pools, count, seed):
            handle.write(orjson.dumps(row) + b"\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=2_580_000)
    parser.add_argument("--data", type=Path, default=public_data())
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write_corpus(args.out, args.rows, args.data, args.seed)


if __name__ == "__main__":
    main()
