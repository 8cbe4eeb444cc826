"""The ``--dry-run`` table: per stage, whether it would run and what its teacher calls cost."""

from __future__ import annotations

from rich.table import Table

from herdsman.config import LoadedConfig
from herdsman.console import console
from herdsman.pipeline.context import Context
from herdsman.pipeline.estimate import Estimate, estimate
from herdsman.pipeline.runner import is_up_to_date, read_manifest, select_stages
from herdsman.teachers.openai_http import OpenAIOptions


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def total_line(est: Estimate) -> str:
    """One line summing every planned stage: calls, tokens, time and cost where known."""
    time = (
        f"{_duration(est.seconds_expected)} (≤ {_duration(est.seconds_max)})"
        if est.seconds_expected is not None and est.seconds_max is not None
        else "unknown"
    )
    if est.time_note and est.seconds_expected is not None:
        time += " + the Batch API's window"
    cost = (
        f"${est.usd_expected:,.2f} (≤ ${est.usd_max:,.2f})"
        if est.usd_expected is not None and est.usd_max is not None
        else ("unknown" if est.backend == "openai" else "none (your own hardware)")
    )
    return (
        f"total: {est.calls:,} teacher calls, {est.prompt_tokens:,} prompt tokens, "
        f"{est.completion_expected:,} completion tokens (≤ {est.completion_max:,}); "
        f"time {time}; cost {cost}"
    )


def plan(loaded: LoadedConfig, stages: list[str] | None = None) -> tuple[list[str], Estimate]:
    """Which selected stages would run, and the estimate with up-to-date stages zeroed."""
    ctx = Context(loaded=loaded, run_dir=loaded.run_dir)
    manifest = read_manifest(ctx.run_dir)
    selected = select_stages(stages)
    will_run = [s.name for s in selected if s.enabled(ctx) and not is_up_to_date(s, ctx, manifest)]
    est = estimate(ctx, only=set(will_run))
    return will_run, est


def print_dry_run(loaded: LoadedConfig, stages: list[str] | None = None) -> Estimate:
    """Print the plan; makes no teacher call and writes nothing."""
    from herdsman.pipeline.references import prepare_run

    loaded = prepare_run(loaded)  # a reference found nowhere is refused, as by the run
    will_run, est = plan(loaded, stages)
    ctx = Context(loaded=loaded, run_dir=loaded.run_dir)
    table = Table(title=f"dry run: {loaded.path} -> {loaded.run_dir}")
    for column in ("stage", "status", "teacher calls", "prompt tokens", "completion tokens"):
        table.add_column(column, justify="left" if column in ("stage", "status") else "right")
    table.add_column("notes")
    by_stage = {s.stage: s for s in est.stages}
    for stage in select_stages(stages):
        if not stage.enabled(ctx):
            table.add_row(stage.name, "not configured", "", "", "", "")
            continue
        status = "will run" if stage.name in will_run else "up to date"
        items = [v for k, v in by_stage.items() if k.split(" ", 1)[0] == stage.name]
        if not stage.calls_teacher or not items:
            table.add_row(stage.name, status, "0", "", "", "no teacher calls")
            continue
        for item in items:
            table.add_row(
                item.stage,
                status,
                f"{item.calls:,}",
                f"{item.prompt_tokens:,}",
                f"{item.completion_expected:,} (≤ {item.completion_max:,})",
                item.note,
            )
    console.print(table)
    console.print(f"teacher: {est.backend} {est.model}; tokens counted with {est.tokenizer}")
    if est.logprob_bytes is not None:
        expected, ceiling = est.logprob_bytes
        console.print(
            f"teacher log-probabilities to store: {expected / 2**20:,.1f} MiB expected, at most "
            f"{ceiling / 2**20:,.1f} MiB (in the run store, and again beside the dataset)"
        )
    options = ctx.teacher_options()
    if isinstance(options, OpenAIOptions):
        where = options.key_destination() or (
            f"no API key (${options.api_key_env} is not set) for {options.base_url}"
        )
        console.print(f"key: {where}")
        if options.key_destination() and not options.allow_insecure_key:
            from herdsman.teachers.options import key_may_go_to

            if not key_may_go_to(options.base_url):
                console.print(
                    "[red]the run will refuse this key[/]: not https and not a loopback "
                    "address (teacher.allow_insecure_key: true to allow it)"
                )
    if est.usd_expected is not None:
        console.print(
            f"estimated cost: ${est.usd_expected:,.2f} expected, at most ${est.usd_max:,.2f}"
        )
    elif est.backend == "openai":
        console.print("estimated cost: unknown (no price for this model; pass teacher.prices)")
    if est.seconds_expected is not None and est.seconds_max is not None:
        console.print(
            f"estimated teacher time: {_duration(est.seconds_expected)} expected, at most "
            f"{_duration(est.seconds_max)} (at {est.tokens_per_second:g} "
            "generated tokens/s; set teacher.tokens_per_second)"
            + (f"; {est.time_note}" if est.time_note else "")
        )
    elif est.backend == "openai":
        console.print(
            "estimated teacher time: unknown (set teacher.tokens_per_second to the server's "
            "generated tokens/s)"
        )
    console.print(total_line(est))
    console.print("dry run: nothing was called or written")
    return est
