"""Commands on a built dataset: ``analyze``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from herdsman.cli.app import (
    app,
    user_errors,
)
from herdsman.console import console

if TYPE_CHECKING:
    pass


@app.command()
def analyze(
    dataset: Annotated[
        Path, typer.Argument(help="LaMini-format JSONL, Parquet, HF folder or herdsman dataset/.")
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder.")],
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Embedding batch.")] = 32,
    max_points: Annotated[
        int | None, typer.Option("--max-points", min=10, help="Sample this many for t-SNE.")
    ] = None,
    no_embed: Annotated[
        bool, typer.Option("--no-embed", help="Skip embeddings and the t-SNE map.")
    ] = False,
) -> None:
    """Composition, lengths and diversity (t-SNE map of instruction embeddings) of a dataset.

    Writes analysis.json, composition.png, lengths.png, diversity_tsne.png
    and tsne_points.csv. Works on LaMini-format data from anywhere: rows need
    instruction and response; instruction_source is used when present.

    Example:

      herdsman analyze run/dataset -o run/analysis
    """
    from herdsman.dataset.analyze import AnalyzeSettings, summary_lines
    from herdsman.dataset.analyze import analyze as run_analyze

    with user_errors():
        result = run_analyze(
            dataset,
            out,
            AnalyzeSettings(batch_size=batch_size, max_points=max_points, embed=not no_embed),
        )
        for line in summary_lines(result):
            console.print(line)
