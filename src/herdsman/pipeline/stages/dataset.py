"""Stage ``dataset``: decontaminate, split and export the LaMini records with a dataset card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from herdsman.console import console
from herdsman.errors import HerdsmanError
from herdsman.io.bundled import bundled_file
from herdsman.io.jsonl import iter_json_objects
from herdsman.pipeline.context import (
    BUILTIN_EVAL_DIR,
    DATASET,
    QUALITY,
    SEEDS,
    Context,
    Stage,
)
from herdsman.pipeline.run_files import (
    LOGPROBS,
    configured_planner,
    dataset_input,
    export_logprobs,
    generated_path,
    logprobs_meta,
    read_seed_file,
    strategies,
)


def eval_files(ctx: Context) -> list[Path]:
    """Evaluation files to decontaminate against: the configured ones and the built-in suite."""
    cfg = ctx.config.dataset.decontaminate
    files = [ctx.loaded.resolve(f) for f in cfg.files]
    builtin = bundled_file(BUILTIN_EVAL_DIR)
    if cfg.builtin_suite and builtin.is_dir():
        files += sorted(builtin.glob("*.jsonl"))
    return files


def _dataset_inputs(ctx: Context) -> dict[str, Path]:
    inputs = {"answers": dataset_input(ctx), "seeds": ctx.path(SEEDS)}
    inputs.update({f"eval[{i}]": p for i, p in enumerate(eval_files(ctx))})
    return inputs


def _card_info(ctx: Context) -> Any:
    from herdsman.dataset.card import CardInfo
    from herdsman.generation.prompts import PromptTemplate

    counts: dict[str, int] = {}
    example_prompt = ""
    for _, obj in iter_json_objects(ctx.path(SEEDS)):
        counts[obj.get("origin", "")] = counts.get(obj.get("origin", ""), 0) + 1
    generated = {}
    for strategy in strategies(ctx):
        path = generated_path(ctx, strategy)
        generated[strategy] = sum(1 for _ in iter_json_objects(path)) if path.is_file() else 0
    if "example" in strategies(ctx):
        seeds = read_seed_file(ctx.path(SEEDS))
        try:
            example_prompt = configured_planner(ctx, "example", seeds, []).plan(0).prompt
        except HerdsmanError:
            example_prompt = ""
    gen = ctx.config.generate
    template = PromptTemplate.from_file(ctx.loaded.resolve(gen.template)) if gen.template else None
    cfg = ctx.config
    return CardInfo(
        name=cfg.dataset.name,
        license=cfg.dataset.license,
        seed_sources=[
            (s.path, s.format, counts.get(f"seeds[{i}]", 0)) for i, s in enumerate(cfg.seeds)
        ],
        generated=generated,
        template_version=template.version if template else "lamini-v1",
        example_prompt=example_prompt,
        system_prompt=cfg.respond.system_prompt,
        sampling=str(cfg.respond.sampling.model_dump(exclude_none=True)),
        ngram=cfg.dataset.decontaminate.n,
        quality=_quality_counts(ctx),
    )


def _quality_counts(ctx: Context) -> dict[str, Any] | None:
    path = ctx.path(QUALITY) / "report.json"
    if not ctx.config.quality.enabled or not path.is_file():
        return None
    found: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return found


def _push_token(ctx: Context) -> str | None:
    """The token ``dataset.push_to_hub`` uploads with (``None`` without it): refused before
    any stage runs when the hub is offline, the token is missing or there is no hf export."""
    from herdsman.io.hub import push_token

    cfg = ctx.config.dataset
    if not cfg.push_to_hub:
        return None
    if "hf" not in cfg.formats:
        raise HerdsmanError("dataset.push_to_hub needs 'hf' in dataset.formats")
    return push_token("dataset.push_to_hub", cfg.hub_token_env)


def _run_dataset(ctx: Context) -> dict[str, Any]:
    from herdsman.dataset.build import build_dataset, report_json
    from herdsman.dataset.card import render_card

    cfg = ctx.config.dataset
    token = _push_token(ctx)
    info = _card_info(ctx)
    k = ctx.config.respond.logprobs
    meta = logprobs_meta(ctx.teacher_options(), k) if k else None
    if meta is not None:
        info.logprobs = (meta.k, meta.tokenizer, meta.vocab)
    report = build_dataset(
        dataset_input(ctx),
        ctx.path(DATASET),
        cfg,
        eval_files(ctx),
        card=lambda r: render_card(r, info),
    )
    if meta is not None:
        folder = ctx.path(DATASET) / LOGPROBS
        for split in ("train", "held_out"):
            rows = ctx.path(DATASET) / f"{split}.jsonl"
            if rows.is_file():
                _, missing = export_logprobs(ctx.store(), rows, folder / f"{split}.parquet")
                if missing:
                    raise HerdsmanError(
                        f"dataset: {missing} {split} row(s) have no stored log-probabilities "
                        "(answered before respond.logprobs was set?); re-run respond"
                    )
        meta.write(folder)
        console.print(f"  dataset: the teacher's top-{k} log-probabilities in {folder}")
    if cfg.push_to_hub and token:
        import datasets

        from herdsman.io.hub import hub_errors

        with hub_errors(f"dataset.push_to_hub: pushing to {cfg.push_to_hub}"):
            datasets.load_from_disk(str(ctx.path(DATASET) / "hf")).push_to_hub(
                cfg.push_to_hub, token=token, private=cfg.private
            )
        console.print(f"  pushed to the hub as {cfg.push_to_hub}")
    return report_json(report)


STAGE = Stage(
    "dataset",
    "decontaminate, split, export (JSONL, Parquet, HF) with a dataset card",
    outputs=lambda ctx: [ctx.path(DATASET)],
    inputs=_dataset_inputs,
    settings=lambda ctx: {
        **ctx.config.dataset.model_dump(mode="json"),
        "logprobs": ctx.config.respond.logprobs,
    },
    run=_run_dataset,
    check=_push_token,
)
