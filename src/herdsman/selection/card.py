"""The selected dataset's card: what was kept, by which scores, and what was dropped and why."""

from __future__ import annotations

from typing import Any

from herdsman.io.templating import markdown_env

NAMES = {
    "quality": "judge quality (expected grade points, A=4 .. D=1)",
    "ifd": "IFD (loss with the instruction / loss without)",
    "length": "response words",
}
#: The score floors the card names, in the order it names them.
FLOORS = ("min_quality", "max_ifd", "min_words")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _example(ex: dict[str, Any]) -> dict[str, Any]:
    return {
        "instruction": ex["instruction"],
        "instruction_source": ex["instruction_source"],
        "response": ex["response"],
        "scores": [(k, _fmt(v)) for k, v in ex["scores"].items()],
        "reason": ex.get("reason") or None,
    }


def render_selection_card(report: dict[str, Any]) -> str:
    """Markdown card of a selection report (see :mod:`herdsman.selection.selector`).

    The wording is ``templates/selection_card.md.j2``; text from the data (sources,
    instructions, responses) goes through its ``cell`` filter.
    """
    floors = report["floors"]
    diversity = report["diversity"]
    kept_d = diversity.get("mean_cosine_distance_kept")
    random_d = diversity.get("mean_cosine_distance_random")
    context = {
        "kept": report["kept"],
        "candidates": report["candidates"],
        "target": report["target"],
        "passed_floors": report["passed_floors"],
        "floors": [(k, floors[k]) for k in FLOORS if floors.get(k) is not None],
        "k_center": diversity["method"] == "k-center",
        "distance": {"kept": f"{kept_d:.3f}", "random": f"{random_d:.3f}"}
        if kept_d is not None and random_d is not None
        else None,
        "dropped": list(report["dropped"].items()),
        "by_source": [(s, c["before"], c["after"]) for s, c in report["by_source"].items()],
        "scores": [
            {
                "name": NAMES.get(name, name),
                "part": part,
                "n": (parts[part] or {}).get("n", 0),
                **{k: _fmt((parts[part] or {}).get(k)) for k in ("mean", "p10", "median", "p90")},
            }
            for name, parts in report["scores"].items()
            for part in ("all", "kept")
        ],
        "examples": {
            part: [_example(ex) for ex in report["examples"][part]] for part in ("kept", "dropped")
        },
    }
    return markdown_env("herdsman.selection").get_template("selection_card.md.j2").render(context)
