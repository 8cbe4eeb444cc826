"""``herdsman run CONFIG.yaml``: the stages in order, each skipped when it is up to date.

A stage is up to date when its outputs exist and the fingerprint of its
settings and input files (:mod:`herdsman.pipeline.fingerprint`) equals the one recorded
when it last finished (``RUN_DIR/.herdsman/stages.json``). Changing a seed file
or a setting therefore re-runs the stages that depend on it and no others;
teacher calls already made are replayed from the run store, so a re-run pays
only for what changed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import orjson

from herdsman.config import LoadedConfig
from herdsman.console import console
from herdsman.errors import HerdsmanError
from herdsman.io.atomic import write_text_atomic
from herdsman.io.run_lock import run_lock
from herdsman.pipeline.context import STORE, Context, Stage
from herdsman.pipeline.fingerprint import fingerprint
from herdsman.pipeline.order import STAGE_NAMES, stages
from herdsman.records import utc_now

MANIFEST = Path(".herdsman") / "stages.json"


@dataclass
class StageOutcome:
    """What happened to one stage in a run."""

    name: str
    status: str  # "ran", "up to date", "disabled"
    seconds: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineResult:
    """The outcomes of a run, in stage order."""

    run_dir: Path
    outcomes: list[StageOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def outcome(self, name: str) -> StageOutcome | None:
        """The outcome of a stage, if it was selected."""
        return next((o for o in self.outcomes if o.name == name), None)


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The recorded stage fingerprints (empty when none or unreadable)."""
    path = run_dir / MANIFEST
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    write_text_atomic(
        run_dir / MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2).decode()
    )


def select_stages(names: list[str] | None) -> list[Stage]:
    """Stages to run, in pipeline order.

    Raises:
        HerdsmanError: An unknown stage name.
    """
    if not names:
        return list(stages())
    unknown = [n for n in names if n not in STAGE_NAMES]
    if unknown:
        raise HerdsmanError(f"unknown stage '{unknown[0]}' (stages: {', '.join(STAGE_NAMES)})")
    return [s for s in stages() if s.name in names]


def stage_fingerprint(stage: Stage, ctx: Context) -> str:
    """The fingerprint of a stage's settings and inputs.

    Raises:
        HerdsmanError: An input is missing (an earlier stage has not run).
    """
    inputs = stage.inputs(ctx)
    for name, path in inputs.items():
        if not path.exists():
            producer = next(
                (s.name for s in stages() if path in s.outputs(ctx) and s is not stage), None
            )
            hint = f": run stage '{producer}' first" if producer else ""
            raise HerdsmanError(f"stage '{stage.name}' needs {path} ({name}){hint}")
    return fingerprint(stage.settings(ctx), inputs)


def is_up_to_date(stage: Stage, ctx: Context, manifest: dict[str, Any]) -> bool:
    """Outputs present and fingerprint unchanged since the stage last finished."""
    entry = manifest.get(stage.name)
    if not entry or not all(p.exists() for p in stage.outputs(ctx)):
        return False
    try:
        return bool(entry.get("fingerprint") == stage_fingerprint(stage, ctx))
    except HerdsmanError:
        return False


def _top(path: Path, run_dir: Path) -> str | None:
    """The first name of ``path`` inside ``run_dir`` (``dataset`` for ``dataset/train.jsonl``)."""
    try:
        parts = path.relative_to(run_dir).parts
    except ValueError:
        return None
    return parts[0] if parts else None


def check_run_folder(loaded: LoadedConfig) -> None:
    """Refuse a run folder that is a file, or that holds an input a stage would rewrite.

    The run folder is the pipeline's one output (:func:`herdsman.io.guard.check_paths`):
    what a stage reads that no earlier stage produced (seed files, the topic dump, ...)
    must not be where a stage writes (``RUN_DIR/seeds.jsonl``, ``RUN_DIR/dataset/``).

    Raises:
        PathConflict: Naming the run folder and the input.
    """
    from herdsman.io.guard import Input, Output, check_paths

    run_dir = loaded.run_dir
    if run_dir.exists() and not run_dir.is_dir():
        check_paths([], [Output(run_dir, "run_dir", "folder")])
    ctx = Context(loaded=loaded, run_dir=run_dir)
    produced: set[str] = {".herdsman"}
    inputs: list[Input] = []
    try:
        for stage in stages():
            if not stage.enabled(ctx):
                continue
            try:
                reads = stage.inputs(ctx)
                outputs = stage.outputs(ctx)
            except HerdsmanError:  # the stage's own checks report it when it runs
                continue
            for name, path in reads.items():
                top = _top(path, run_dir)
                if top is None or not any(fnmatch(top, p) for p in produced):
                    inputs.append(Input(path, f"{stage.name} input '{name}'"))
            for path in outputs:
                top = _top(path, run_dir)
                if top is not None:
                    produced.add(f"{top}*" if top == path.name else top)
    finally:
        ctx.close()
    writes = (*sorted(produced), "generated_*.jsonl*", "report.html")
    check_paths(inputs, [Output(run_dir, "run_dir", "folder", writes=writes)])


def run_pipeline(
    loaded: LoadedConfig, stages: list[str] | None = None, force: bool = False
) -> PipelineResult:
    """Run the selected stages (all by default) in order, skipping those up to date.

    Args:
        loaded: The validated config.
        stages: Stage names to run (others are left as they are).
        force: Re-run selected stages even when up to date.

    Returns:
        What each stage did.

    Raises:
        HerdsmanError: Bad input or a missing earlier stage.
        IncompleteStage: Teacher calls failed; re-running retries them.
    """
    from herdsman.pipeline.references import prepare_run

    loaded = prepare_run(loaded)  # hub mode, and every model reference, before any stage
    run_dir = loaded.run_dir
    check_run_folder(loaded)
    run_dir.mkdir(parents=True, exist_ok=True)
    with run_lock(run_dir / STORE):
        return _run_locked(loaded, run_dir, stages, force)


def _run_locked(
    loaded: LoadedConfig, run_dir: Path, stages: list[str] | None, force: bool
) -> PipelineResult:
    ctx = Context(loaded=loaded, run_dir=run_dir)
    result = PipelineResult(run_dir=run_dir)
    selected = select_stages(stages)
    manifest = read_manifest(run_dir)
    for stage in selected:  # settings that cannot work stop the run before anything is spent
        if stage.enabled(ctx):
            stage.check(ctx)
    try:
        for number, stage in enumerate(selected, 1):
            label = f"[{number}/{len(selected)}] {stage.name}"
            if not stage.enabled(ctx):
                result.outcomes.append(StageOutcome(stage.name, "disabled"))
                console.print(f"{label}: not configured, skipped")
                continue
            if not force and is_up_to_date(stage, ctx, manifest):
                result.outcomes.append(
                    StageOutcome(stage.name, "up to date", summary=manifest[stage.name]["summary"])
                )
                console.print(f"{label}: up to date")
                continue
            print_ = console.print
            if not stage.calls_teacher:
                ctx.release_teacher()  # its GPU memory goes to training and evaluation
            print_(f"{label}: {stage.help}")
            before = stage_fingerprint(stage, ctx)
            started = time.perf_counter()
            manifest.pop(stage.name, None)  # not done until it finishes again
            _write_manifest(run_dir, manifest)
            summary = stage.run(ctx)
            seconds = time.perf_counter() - started
            manifest[stage.name] = {
                "fingerprint": before,
                "finished_at": utc_now(),
                "seconds": round(seconds, 2),
                "summary": summary,
            }
            _write_manifest(run_dir, manifest)
            result.outcomes.append(StageOutcome(stage.name, "ran", seconds, summary))
            print_(f"{label}: done in {seconds:.0f}s")
    finally:
        ctx.close()
    result.notes = ctx.notes
    for note in ctx.notes:
        console.print(f"[yellow]note:[/] {note}")
    return result
