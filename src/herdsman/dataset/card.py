"""The dataset card (``README.md``): what is in the dataset, how it was made, whose terms apply."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from herdsman.dataset.build import SPLITS, DatasetReport

#: Licence notes by ``instruction_source``; the teacher's terms are added separately.
SOURCE_LICENCES = {
    "alpaca": "Alpaca instructions: CC BY-NC 4.0 (non-commercial use only).",
    "original_p3": "P3 prompts (bigscience/P3): Apache-2.0; each underlying dataset keeps its own licence.",
    "generated_p3": "Generated from P3 examples (bigscience/P3, Apache-2.0).",
    "original_flan": "FLAN collection: Apache-2.0; each underlying dataset keeps its own licence.",
    "generated_flan": "Generated from FLAN examples (Apache-2.0 collection).",
    "self_instruct_without_topic": "Self-Instruct seed tasks: Apache-2.0.",
    "self_instruct_with_topic": "Self-Instruct seed tasks (Apache-2.0) with Wikipedia category titles (CC BY-SA 4.0).",
}
TEACHER_TERMS = {
    "openai": "Responses come from an API model: its provider's terms of use apply to them "
    "(OpenAI's terms, for instance, restrict using outputs to develop competing models).",
    "local": "Responses come from a local model: its licence applies "
    "(the embedded SmolLM2-135M-Instruct is Apache-2.0).",
}


@dataclass
class CardInfo:
    """What the card says beyond the counts."""

    name: str
    license: str | None = None
    seed_sources: list[tuple[str, str, int]] = field(default_factory=list)
    generated: dict[str, int] = field(default_factory=dict)
    template_version: str = "lamini-v1"
    example_prompt: str = ""
    system_prompt: str = ""
    sampling: str = ""
    ngram: int = 13
    #: The quality gate's counts (``{"answers", "kept", "removed": {rule: n}}``), if it ran.
    quality: dict[str, Any] | None = None


def _size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return label
    return "100K<n<1M" if n < 1_000_000 else "1M<n<10M"


def render_card(report: DatasetReport, info: CardInfo) -> str:
    """Markdown with Hugging Face front matter."""
    sources = sorted({s for c in report.kept_by_source.values() for s in c})
    lines = [
        "---",
        f"license: {info.license or 'other'}",
        "language:\n- en",
        "task_categories:\n- text-generation",
        f"size_categories:\n- {_size_category(report.kept)}",
        "tags:\n- lamini\n- distillation\n- herdsman",
        "---",
        "",
        f"# {info.name}",
        "",
        "Instruction/response pairs in the LaMini format (`instruction`, `response`, "
        "`instruction_source`, plus provenance columns), built by herdsman: original and "
        "generated instructions, each answered by the teacher model.",
        "",
        "## Composition",
        "",
        "| instruction_source | " + " | ".join(SPLITS) + " | total |",
        "|---|" + "---:|" * (len(SPLITS) + 1),
    ]
    for source in sources:
        counts = [
            report.kept_by_source[s][source] if s in report.kept_by_source else 0 for s in SPLITS
        ]
        lines.append(f"| {source} | " + " | ".join(map(str, counts)) + f" | {sum(counts)} |")
    totals = [report.split_size(s) for s in SPLITS]
    lines += [
        "| **all** | " + " | ".join(map(str, totals)) + f" | {sum(totals)} |",
        "",
        "The `held_out` split is chosen by a keyed hash of the instruction (reproducible); it is "
        "for measuring how closely students imitate the teacher, not for training.",
        "",
        "## Teacher",
        "",
    ]
    lines += [f"- `{t}`: {n} responses" for t, n in report.teachers.most_common()]
    if info.sampling:
        lines.append(f"- sampling: `{info.sampling}`")
    if info.system_prompt:
        lines.append(f"- system prompt: “{info.system_prompt}”")
    lines += ["", "## How instructions were made", ""]
    for path, fmt, count in info.seed_sources:
        lines.append(f"- seeds: `{path}` ({fmt}, {count} seeds)")
    for strategy, n in info.generated.items():
        lines.append(f"- generated, {strategy}-guided: {n} instructions kept")
    lines.append(f"- prompt template: `{info.template_version}` (the LaMini-LM paper's)")
    if info.example_prompt:
        lines += ["", "An example-guided generation prompt:", "", "```", info.example_prompt, "```"]
    if info.quality:
        q = info.quality
        removed = q.get("removed") or {}
        lines += [
            "",
            "## Answer quality",
            "",
            f"{q.get('kept', 0)} of {q.get('answers', 0)} teacher answers passed the quality gate; "
            "removed answers are listed with their rule in `removed.jsonl` of the run's "
            "`quality/` folder.",
            "",
        ]
        lines += [f"- {rule}: {n} removed" for rule, n in sorted(removed.items())] or [
            "- no answer removed"
        ]
    lines += [
        "",
        "## Cleaning",
        "",
        f"- rows answered: {report.rows}",
        f"- empty responses dropped: {report.empty}",
        f"- repeated instructions dropped: {report.duplicates}",
        f"- decontamination: {info.ngram}-word n-gram overlap with {report.eval_items} items "
        f"from {len(report.eval_files)} evaluation file(s): "
        f"{sum(report.contaminated.values())} dropped"
        + (
            " (" + ", ".join(f"{s}: {n}" for s, n in sorted(report.contaminated.items())) + ")"
            if report.contaminated
            else ""
        ),
        "",
        "## Licences",
        "",
    ]
    for source in sources:
        if source in SOURCE_LICENCES:
            lines.append(f"- {SOURCE_LICENCES[source]}")
    backends = {t.split(":", 1)[0] for t in report.teachers}
    lines += [f"- {TEACHER_TERMS[b]}" for b in sorted(backends) if b in TEACHER_TERMS]
    lines += [
        "",
        "## Files",
        "",
        "- `train.jsonl`, `held_out.jsonl`: every column, one record per line",
        "- `train.parquet`, `held_out.parquet`: fixed columns (`sampling` as JSON text)",
        "- `hf/`: `datasets.load_from_disk('hf')` gives a `DatasetDict` with both splits",
        "- `removed.jsonl`: rows dropped by decontamination, with the evaluation item matched",
        "- `stats.json`: the numbers above",
        "",
    ]
    return "\n".join(lines)
