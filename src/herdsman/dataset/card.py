"""The dataset card (``README.md``): what is in the dataset, how it was made, whose terms apply."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from herdsman.dataset.build import SPLITS, DatasetReport
from herdsman.io.templating import markdown_env

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
    #: The teacher's stored log-probabilities: ``(k, tokenizer, vocabulary hash)``, if kept.
    logprobs: tuple[int, str, str] | None = None


def _size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return label
    return "100K<n<1M" if n < 1_000_000 else "1M<n<10M"


def render_card(report: DatasetReport, info: CardInfo) -> str:
    """Markdown with Hugging Face front matter (``templates/dataset_card.md.j2``)."""
    sources = sorted({s for c in report.kept_by_source.values() for s in c})
    composition = []
    for source in sources:
        counts = [
            report.kept_by_source[s][source] if s in report.kept_by_source else 0 for s in SPLITS
        ]
        composition.append({"source": source, "counts": counts, "total": sum(counts)})
    totals = [report.split_size(s) for s in SPLITS]
    quality = None
    if info.quality:
        quality = {
            "kept": info.quality.get("kept", 0),
            "answers": info.quality.get("answers", 0),
            "removed": sorted((info.quality.get("removed") or {}).items()),
        }
    backends = {t.split(":", 1)[0] for t in report.teachers}
    licences = [SOURCE_LICENCES[s] for s in sources if s in SOURCE_LICENCES]
    licences += [TEACHER_TERMS[b] for b in sorted(backends) if b in TEACHER_TERMS]
    context = {
        "name": info.name,
        "license": info.license or "other",
        "size_category": _size_category(report.kept),
        "splits": list(SPLITS),
        "composition": composition,
        "totals": totals,
        "total": sum(totals),
        "teachers": report.teachers.most_common(),
        "sampling": info.sampling,
        "system_prompt": info.system_prompt,
        "seed_sources": info.seed_sources,
        "generated": list(info.generated.items()),
        "template_version": info.template_version,
        "example_prompt": info.example_prompt,
        "quality": quality,
        "rows": report.rows,
        "empty": report.empty,
        "duplicates": report.duplicates,
        "ngram": info.ngram,
        "logprobs": info.logprobs,
        "eval_items": report.eval_items,
        "eval_files": len(report.eval_files),
        "contaminated_total": sum(report.contaminated.values()),
        "contaminated": sorted(report.contaminated.items()),
        "licences": licences,
    }
    return markdown_env("herdsman.dataset").get_template("dataset_card.md.j2").render(context)
