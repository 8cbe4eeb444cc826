"""The selected dataset's card: what was kept, by which scores, and what was dropped and why."""

from __future__ import annotations

from typing import Any

NAMES = {
    "quality": "judge quality (expected grade points, A=4 .. D=1)",
    "ifd": "IFD (loss with the instruction / loss without)",
    "length": "response words",
}


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_selection_card(report: dict[str, Any]) -> str:
    """Markdown card of a selection report (see :mod:`herdsman.selection.selector`)."""
    lines = [
        "# Selected training data",
        "",
        f"Kept **{report['kept']}** of {report['candidates']} training pairs "
        f"(target {report['target']}; {report['passed_floors']} passed the score floors). "
        "The held-out split is unchanged.",
        "",
        "## Why",
        "",
    ]
    floors = report["floors"]
    rules = []
    if floors.get("min_quality") is not None:
        rules.append(f"judge quality at least {floors['min_quality']}")
    if floors.get("max_ifd") is not None:
        rules.append(f"IFD below {floors['max_ifd']}")
    if floors.get("min_words") is not None:
        rules.append(f"at least {floors['min_words']} response words")
    lines.append("Floors: " + ("; ".join(rules) if rules else "none") + ".")
    diversity = report["diversity"]
    if diversity["method"] == "k-center":
        lines.append(
            "Among the pairs that passed, greedy k-center over sentence embeddings of the "
            "instructions kept the most spread-out set."
        )
    else:
        lines.append("Among the pairs that passed, the best ranked were kept.")
    kept_d, random_d = (
        diversity.get("mean_cosine_distance_kept"),
        diversity.get("mean_cosine_distance_random"),
    )
    if kept_d is not None and random_d is not None:
        lines.append(
            f"Mean cosine distance between kept instructions: {kept_d:.3f} "
            f"(a random subset of the same size: {random_d:.3f})."
        )
    lines += ["", "Dropped:", ""]
    lines += [f"- {reason}: {count}" for reason, count in report["dropped"].items()] or ["- none"]
    lines += ["", "## By source", "", "| source | before | after |", "|---|---:|---:|"]
    lines += [
        f"| {_cell(s)} | {c['before']} | {c['after']} |" for s, c in report["by_source"].items()
    ]
    if report["scores"]:
        lines += [
            "",
            "## Scores",
            "",
            "| score | set | n | mean | p10 | median | p90 |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for name, parts in report["scores"].items():
            for part in ("all", "kept"):
                s = parts[part] or {}
                lines.append(
                    f"| {NAMES.get(name, name)} | {part} | {s.get('n', 0)} | {_fmt(s.get('mean'))} "
                    f"| {_fmt(s.get('p10'))} | {_fmt(s.get('median'))} | {_fmt(s.get('p90'))} |"
                )
    for part, title in (("kept", "Kept examples"), ("dropped", "Dropped examples")):
        examples = report["examples"][part]
        if not examples:
            continue
        lines += ["", f"## {title}", ""]
        for ex in examples:
            scores = ", ".join(f"{k}={_fmt(v)}" for k, v in ex["scores"].items())
            why = f" — {ex['reason']}" if ex.get("reason") else ""
            lines += [
                f"- **{_cell(ex['instruction'])}** ({_cell(ex['instruction_source'])}; {scores}){why}",
                f"  > {_cell(ex['response'])}",
            ]
    lines.append("")
    return "\n".join(lines)
