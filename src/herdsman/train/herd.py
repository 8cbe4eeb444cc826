"""The herd table: one row per trained student (demo, ``herdsman train``, the report)."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def _loss(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "n/a"


def herd_table(outcomes: list[dict[str, Any]]) -> Table:
    """Student, architecture, parameters, train time, final and held-out loss."""
    table = Table(title="the herd")
    for column in (
        "student",
        "base",
        "architecture",
        "method",
        "parameters",
        "train time",
        "final loss",
        "held-out loss",
    ):
        table.add_column(
            column,
            justify="right"
            if column in ("parameters", "train time", "final loss", "held-out loss")
            else "left",
        )
    for o in outcomes:
        table.add_row(
            str(o.get("name")),
            str(o.get("base")),
            "encoder-decoder" if o.get("architecture") == "seq2seq" else "decoder-only",
            str(o.get("method")),
            f"{(o.get('parameters') or 0) / 1e6:.1f}M",
            f"{o.get('train_seconds', 0):.0f} s",
            _loss(o.get("final_loss")),
            _loss(o.get("held_out_loss")),
        )
    return table
