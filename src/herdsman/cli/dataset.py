"""Commands on the teacher's answers and the built dataset: ``quality`` and ``analyze``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from herdsman.cli.app import app, user_errors
from herdsman.cli.section_options import SectionSpec, with_section
from herdsman.config import AnalyzeConfig, QualityConfig
from herdsman.io.guard import JSONL_SUFFIXES, Input, Output, check_paths

#: What ``analyze`` writes into its folder.
ANALYSIS_FILES = (
    "analysis.json",
    "composition.png",
    "lengths.png",
    "diversity_tsne.png",
    "tsne_points.csv",
)
#: What a dataset folder's readers open (JSONL splits, else a saved Hugging Face dataset).
DATASET_READS = ("train.jsonl", "held_out.jsonl", "hf", "*.arrow", "*.json", "*.parquet")


@app.command()
@with_section(SectionSpec(QualityConfig, "settings", fixed={"enabled": True}))
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
    *,
    settings: QualityConfig,
) -> None:
    """Drop answers a student should not learn from: empty, cut by max_tokens, looping,
    echoing the instruction, refusing, or in another language than the instruction.

    Examples:

      herdsman quality lamini.jsonl -o clean.jsonl

      herdsman quality lamini.jsonl -o clean.jsonl --no-rule language --repetition 0.8
    """
    from herdsman.pipeline.stages.quality import gate_answers

    removed = removed or out.with_name(out.name + ".removed.jsonl")
    with user_errors():
        check_paths(
            [Input(in_path, "IN.jsonl", "file")],
            [
                Output(out, suffixes=JSONL_SUFFIXES),
                Output(removed, "--removed", suffixes=JSONL_SUFFIXES),
            ],
        )
        gate_answers(in_path, out, removed, settings)


@app.command()
@with_section(SectionSpec(AnalyzeConfig, "settings", fixed={"enabled": True}))
def analyze(
    dataset: Annotated[
        Path, typer.Argument(help="LaMini-format JSONL, Parquet, HF folder or herdsman dataset/.")
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder.")],
    *,
    settings: AnalyzeConfig,
) -> None:
    """Composition, lengths and diversity (t-SNE map of instruction embeddings) of a dataset.

    Writes analysis.json, composition.png, lengths.png, diversity_tsne.png
    and tsne_points.csv. Works on LaMini-format data from anywhere: rows need
    instruction and response; instruction_source is used when present.

    Examples:

      herdsman analyze run/dataset -o run/analysis

      herdsman analyze big.jsonl -o analysis --embed-sample 2000 --no-embed
    """
    from herdsman.pipeline.stages.analyze import analyze_dataset

    with user_errors():
        check_paths(
            [Input(dataset, "DATASET", reads=DATASET_READS)],
            [Output(out, kind="folder", writes=ANALYSIS_FILES)],
        )
        analyze_dataset(dataset, out, settings)
