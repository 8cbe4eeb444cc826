"""Commands on the teacher's answers and the built dataset: ``quality`` and ``analyze``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from herdsman.cli.app import (
    app,
    user_errors,
)
from herdsman.console import console
from herdsman.errors import HerdsmanError


@app.command()
def quality(
    in_path: Annotated[
        Path,
        typer.Argument(metavar="IN.jsonl", help="LaMini records (output of herdsman respond)."),
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="The answers that pass.")],
    removed: Annotated[
        Path | None,
        typer.Option(
            "--removed", help="Removed answers with their rule (default: OUT.removed.jsonl)."
        ),
    ] = None,
    no_rule: Annotated[
        list[str] | None,
        typer.Option(
            "--no-rule",
            help="Switch a rule off: empty, truncated, repetition, echo, refusal, language.",
        ),
    ] = None,
    repetition: Annotated[
        float, typer.Option("--repetition", min=0.01, max=1.0, help="Repeated share that fails.")
    ] = 0.7,
    ngram: Annotated[int, typer.Option("--ngram", min=2, max=20, help="Words per n-gram.")] = 4,
    echo: Annotated[
        float,
        typer.Option("--echo", min=0.01, max=1.0, help="Similarity to the instruction that fails."),
    ] = 0.9,
) -> None:
    """Drop answers a student should not learn from: empty, cut by max_tokens, looping,
    echoing the instruction, refusing, or in another language than the instruction.

    Examples:

      herdsman quality lamini.jsonl -o clean.jsonl

      herdsman quality lamini.jsonl -o clean.jsonl --no-rule language --repetition 0.8
    """
    from pydantic import ValidationError

    from herdsman.config import QualityConfig
    from herdsman.dataset.quality import gate, settings_from

    with user_errors():
        try:
            config = QualityConfig(
                disable=no_rule or [], repetition=repetition, ngram=ngram, echo=echo
            )
        except ValidationError as exc:
            raise HerdsmanError(
                f"--no-rule: {exc.errors()[0]['msg'].removeprefix('Value error, ')}"
            ) from None
        if not in_path.is_file():
            raise HerdsmanError(f"{in_path}: no such file")
        removed_path = removed or out.with_name(out.name + ".removed.jsonl")
        report = gate(in_path, out, removed_path, settings_from(config))
        gone = ", ".join(f"{rule}: {n}" for rule, n in report.removed.most_common()) or "none"
        console.print(f"kept {report.kept} of {report.answers} answers -> {out} (removed: {gone})")
        if report.removed:
            console.print(f"removed answers and their rule: {removed_path}")


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
    embed_sample: Annotated[
        int,
        typer.Option(
            "--embed-sample",
            min=10,
            help="Embed and map a uniform sample of this many instructions (all when fewer).",
        ),
    ] = 10_000,
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
            AnalyzeSettings(
                batch_size=batch_size,
                max_points=max_points,
                embed=not no_embed,
                embed_sample=embed_sample,
            ),
        )
        for line in summary_lines(result):
            console.print(line)
