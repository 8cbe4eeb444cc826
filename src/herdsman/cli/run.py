"""Commands that drive the whole pipeline: ``run``, ``init`` and ``demo``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from herdsman.cli.app import (
    EXIT_INCOMPLETE,
    app,
    user_errors,
)
from herdsman.cli.section_options import SectionSpec, with_section
from herdsman.config import AblationConfig
from herdsman.console import console, error_line
from herdsman.errors import HerdsmanError
from herdsman.pipeline.order import STAGE_NAMES

if TYPE_CHECKING:
    pass


@app.command()
def run(
    config: Annotated[
        Path, typer.Argument(help="Pipeline config (YAML); `herdsman init` writes one.")
    ],
    stage: Annotated[
        list[str] | None,
        typer.Option(
            "--stage",
            help=f"Run only this stage (repeatable): {', '.join(STAGE_NAMES)}.",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Print planned teacher calls, tokens and cost; call nothing."
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Re-run the selected stages even when up to date.")
    ] = False,
) -> None:
    """Run the whole pipeline from one config; stages already up to date are skipped.

    A stage re-runs when its settings or input files changed since it last
    finished; teacher calls already made are replayed from the run store.
    Exit code 3: some teacher calls failed (re-run to retry them).

    Examples:

      herdsman init my-run.yaml && herdsman run my-run.yaml --dry-run

      herdsman run my-run.yaml

      herdsman run my-run.yaml --stage dataset --stage analyze
    """
    from herdsman.config import load_config
    from herdsman.errors import IncompleteStage

    with user_errors():
        loaded = load_config(config)
        if dry_run:
            from herdsman.pipeline.dry_run import print_dry_run

            print_dry_run(loaded, stage)
            return
        from herdsman.pipeline.runner import run_pipeline

        try:
            result = run_pipeline(loaded, stage, force=force)
        except IncompleteStage as exc:
            error_line(str(exc))
            raise typer.Exit(EXIT_INCOMPLETE) from None
        console.print(f"run folder: {result.run_dir}")


@app.command()
@with_section(SectionSpec(AblationConfig, "ablation", fixed={"enabled": True}))
def ablate(
    config: Annotated[Path, typer.Argument(help="Pipeline config with the student(s) to compare.")],
    *,
    ablation: AblationConfig,
) -> None:
    """Train one student a second time, changing one thing, and compare the two, paired.

    --compare selection (did the selection help?): the student trained on the
    selected pairs against the same config on a random subset of the same size.
    --compare objective (did logit distillation help?): a kd (or gkd) student
    against its sft twin from the same start, data and number of steps. Runs
    the pipeline up to the ablation (stages already up to date are skipped),
    then the report; the paired differences with their 95% intervals land in
    RUN_DIR/ablation/ablation.json and the report.

    Examples:

      herdsman ablate my-run.yaml

      herdsman ablate my-run.yaml --compare objective --student smollm2-pruned-kd
    """
    from herdsman.config import load_config
    from herdsman.errors import IncompleteStage

    given = ablation.model_dump(mode="json", exclude_unset=True)
    with user_errors():
        loaded = load_config(config, overrides={"ablation": given})
        if loaded.config.ablation.compare == "selection" and not loaded.config.select.enabled:
            raise HerdsmanError(
                f"{config}: ablate --compare selection needs a 'select' section with enabled: true"
            )
        from herdsman.pipeline.runner import run_pipeline

        names = [*STAGE_NAMES[: STAGE_NAMES.index("ablate") + 1], "report"]
        try:
            result = run_pipeline(loaded, names)
        except IncompleteStage as exc:
            error_line(str(exc))
            raise typer.Exit(EXIT_INCOMPLETE) from None
        console.print(f"ablation: {result.run_dir / 'ablation' / 'ablation.json'}")


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the example config.")] = Path(
        "herdsman.yaml"
    ),
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing file.")
    ] = False,
) -> None:
    """Write a commented example pipeline config (runs as is on the embedded defaults).

    Example:

      herdsman init my-run.yaml
    """
    from herdsman.io.atomic import write_text_atomic
    from herdsman.io.bundled import bundled_file
    from herdsman.io.guard import Output, check_paths

    with user_errors():
        check_paths([], [Output(path, "PATH", suffixes=(".yaml", ".yml"))])
        if path.exists() and not overwrite:
            raise HerdsmanError(f"{path}: already exists (use --overwrite to replace it)")
        write_text_atomic(path, bundled_file("example.yaml").read_text(encoding="utf-8"))
        console.print(f"wrote {path}; preview it with: herdsman run {path} --dry-run")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("demo-run"),
    quick: Annotated[
        bool, typer.Option("--quick", help="Fewer seeds and shorter answers.")
    ] = False,
) -> None:
    """Run the whole pipeline on the embedded defaults (no network, CPU is enough).

    Example:

      herdsman demo --out demo-run
    """
    from herdsman.io.guard import Output, check_paths
    from herdsman.pipeline.demo import run_demo

    with user_errors():
        check_paths([], [Output(out, "--out", "folder")])
        run_demo(out, quick=quick)
