"""The pipeline's stages: what each reads, writes and does, in the order they run.

Each stage is a :class:`Stage` whose inputs are files (the config's and the
earlier stages' outputs) and whose settings are its config section; the runner
(:mod:`herdsman.pipeline`) fingerprints both to decide what is up to date.
Stages talk only through the files in the run folder.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from herdsman.config import LoadedConfig, bundled_file
from herdsman.console import console, progress_bar
from herdsman.errors import HerdsmanError
from herdsman.jsonl import iter_json_objects, write_jsonl_atomic
from herdsman.records import Seed
from herdsman.store import RunStore
from herdsman.teachers.base import Teacher
from herdsman.teachers.factory import TeacherOptions, build_teacher

SEEDS = "seeds.jsonl"
TOPICS = "topics.txt"
INSTRUCTIONS = "instructions.jsonl"
RESPONSES = "responses.jsonl"
DATASET = "dataset"
ANALYSIS = "analysis"
#: Offline evaluation items shipped with herdsman, decontaminated against by default.
BUILTIN_EVAL_DIR = "eval"


class IncompleteStage(HerdsmanError):
    """A stage ran but could not finish (failed calls): re-run to retry; exit code 3."""


@dataclass
class Context:
    """What stages share during one ``herdsman run``: the config, the teacher, the store."""

    loaded: LoadedConfig
    run_dir: Path
    _teacher: Teacher | None = None
    _store: RunStore | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def config(self) -> Any:
        """The validated :class:`~herdsman.config.PipelineConfig`."""
        return self.loaded.config

    def path(self, name: str) -> Path:
        """A file in the run folder."""
        return self.run_dir / name

    def teacher_options(self) -> TeacherOptions:
        """Teacher options with paths resolved against the config file."""
        options = self.config.teacher
        data = options.model_dump(exclude={"tokens_per_second"})
        if options.prices:
            data["prices"] = self.loaded.resolve(str(options.prices))
        model = options.model
        if (
            model
            and options.backend in ("local", "vllm")
            and ("/" in model or model.startswith("."))
        ):
            data["model"] = str(self.loaded.resolve(model))
        if options.batch_api and not options.batch_journal:
            data["batch_journal"] = self.run_dir / ".herdsman" / "batches.jsonl"
        return TeacherOptions(**data)

    def teacher(self) -> Teacher:
        """The teacher, built on first use (loading a local model takes a while)."""
        if self._teacher is None:
            self._teacher = build_teacher(self.teacher_options())
        return self._teacher

    def store(self) -> RunStore:
        """The run store of this run folder."""
        if self._store is None:
            self._store = RunStore(self.run_dir / ".herdsman" / "store.sqlite")
        return self._store

    def teacher_identity(self) -> dict[str, Any]:
        """What of the teacher decides its answers (part of generate/respond fingerprints)."""
        t = self.config.teacher
        return {"backend": t.backend, "model": t.model, "base_url": t.base_url}

    def close(self) -> None:
        """Release the store and the teacher."""
        if self._store is not None:
            self._store.close()
        if self._teacher is not None:
            self._teacher.close()


@dataclass(frozen=True)
class Stage:
    """One pipeline stage."""

    name: str
    help: str
    outputs: Callable[[Context], list[Path]]
    inputs: Callable[[Context], dict[str, Path]]
    settings: Callable[[Context], Any]
    run: Callable[[Context], dict[str, Any]]
    enabled: Callable[[Context], bool] = lambda ctx: True
    calls_teacher: bool = False


# -- seeds ---------------------------------------------------------------------------------


def load_configured_seeds(ctx: Context) -> list[Seed]:
    """Every configured seed source, loaded and tagged with its ``origin`` (``seeds[i]``)."""
    from herdsman.seeds import load_seeds

    seeds: list[Seed] = []
    for i, source in enumerate(ctx.config.seeds):
        loaded = list(
            load_seeds(ctx.loaded.resolve(source.path), source.format, skip_bad=source.skip_bad)
        )
        if source.limit:
            loaded = loaded[: source.limit]
        seeds += [s.model_copy(update={"origin": f"seeds[{i}]"}) for s in loaded]
    return seeds


def _run_seeds(ctx: Context) -> dict[str, Any]:
    seeds = load_configured_seeds(ctx)
    write_jsonl_atomic(ctx.path(SEEDS), seeds)
    return {"seeds": len(seeds)}


def _seed_inputs(ctx: Context) -> dict[str, Path]:
    return {f"seeds[{i}]": ctx.loaded.resolve(s.path) for i, s in enumerate(ctx.config.seeds)}


# -- topics --------------------------------------------------------------------------------


def _topic_input(ctx: Context) -> dict[str, Path]:
    topics = ctx.config.topics
    if topics is None:
        return {}
    return {"topics": ctx.loaded.resolve(topics.dump or topics.file)}


def _run_topics(ctx: Context) -> dict[str, Any]:
    from herdsman.topics import Topic, TopicFilter, load_topic_list, read_topics, write_topics

    cfg = ctx.config.topics
    source = _topic_input(ctx)["topics"]
    if cfg.dump:
        filt = TopicFilter(
            max_words=cfg.max_words, min_subcats=cfg.min_subcats, min_pages=cfg.min_pages
        )
        topics, stats = read_topics(source, filt)
        write_topics(ctx.path(TOPICS), topics)
        return {"categories": stats.rows, "topics": stats.kept}
    titles = load_topic_list(source)
    write_topics(ctx.path(TOPICS), [Topic(t, 0, 0) for t in titles])
    return {"topics": len(titles)}


# -- generate ------------------------------------------------------------------------------


def strategies(ctx: Context) -> dict[str, int]:
    """Generation strategies with a positive count."""
    return {s: n for s, n in ctx.config.generate.strategies.items() if n > 0}


def generated_path(ctx: Context, strategy: str) -> Path:
    """Output of one generation strategy."""
    return ctx.path(f"generated_{strategy}.jsonl")


def _generate_inputs(ctx: Context) -> dict[str, Path]:
    inputs = {"seeds": ctx.path(SEEDS)}
    if "topic" in strategies(ctx):
        inputs["topics"] = ctx.path(TOPICS)
    template = ctx.config.generate.template
    if template:
        inputs["template"] = ctx.loaded.resolve(template)
    return inputs


def _generate_settings(ctx: Context) -> dict[str, Any]:
    return {
        "generate": ctx.config.generate.model_dump(mode="json", exclude={"expected_keep_rate"}),
        "weights": [s.weight for s in ctx.config.seeds],
        "teacher": ctx.teacher_identity(),
    }


def planner_for(ctx: Context, strategy: str, seeds: list[Seed], topics: list[str]) -> Any:
    """The generation planner of a strategy, as the config describes it."""
    from herdsman.prompts import Planner, PromptTemplate

    gen = ctx.config.generate
    template = PromptTemplate.from_file(ctx.loaded.resolve(gen.template)) if gen.template else None
    weights = {f"seeds[{i}]": s.weight for i, s in enumerate(ctx.config.seeds)}
    return Planner(
        strategy,
        seeds,
        template=template,
        topics=topics,
        seed=gen.seed,
        weights=None if len(weights) == 1 else weights,  # one source: nothing to weigh
    )


def read_seed_file(path: Path) -> list[Seed]:
    """Seeds written by the seeds stage."""
    return [Seed.model_validate(obj) for _, obj in iter_json_objects(path)]


def _show_kept(bar: Any, task: Any, kept: int) -> None:
    bar.update(task, completed=kept)


def _run_generate(ctx: Context) -> dict[str, Any]:
    from herdsman.filters import FilterConfig
    from herdsman.generate import GenerateSettings, generate
    from herdsman.topics import load_topic_list

    gen = ctx.config.generate
    seeds = read_seed_file(ctx.path(SEEDS))
    topics = load_topic_list(ctx.path(TOPICS)) if "topic" in strategies(ctx) else []
    summary: dict[str, Any] = {}
    for strategy, n in strategies(ctx).items():
        planner = planner_for(ctx, strategy, seeds, topics)
        settings = GenerateSettings(
            n=n,
            sampling=gen.sampling,
            wave=gen.wave,
            max_calls=gen.max_calls,
            threshold=gen.dedup_threshold,
            filters=FilterConfig().without(gen.disable_filters),
        )
        started = time.perf_counter()
        with progress_bar(f"generate ({strategy})") as (bar, task):
            bar.update(task, total=n)
            report = generate(
                ctx.teacher(),
                ctx.store(),
                planner,
                settings,
                generated_path(ctx, strategy),
                on_progress=partial(_show_kept, bar, task),
            )
        summary[strategy] = {
            "kept": report.kept,
            "asked": n,
            "calls": report.calls,
            "parsed": report.parsed,
            "filtered": dict(report.filtered),
            "calls_empty": report.calls_empty,
            "exact_duplicates": report.exact_duplicates,
            "near_duplicates": report.near_duplicates,
            "seconds": round(time.perf_counter() - started, 1),
        }
        for line in report.lines():
            console.print(f"  {strategy}: {line}")
        if not report.reached:
            ctx.notes.append(
                f"generate ({strategy}): kept {report.kept} of {n} within the call budget "
                "(raise generate.max_calls or use a stronger teacher)"
            )
    return summary


# -- respond -------------------------------------------------------------------------------


def _respond_inputs(ctx: Context) -> dict[str, Path]:
    inputs = {"seeds": ctx.path(SEEDS)}
    inputs.update({f"generated_{s}": generated_path(ctx, s) for s in strategies(ctx)})
    return inputs


def _respond_settings(ctx: Context) -> dict[str, Any]:
    return {
        "respond": ctx.config.respond.model_dump(mode="json"),
        "originals": [s.originals for s in ctx.config.seeds],
        "teacher": ctx.teacher_identity(),
    }


def _run_respond(ctx: Context) -> dict[str, Any]:
    from herdsman.respond import RespondSettings, respond

    originals = {f"seeds[{i}]" for i, s in enumerate(ctx.config.seeds) if s.originals}
    rows = [obj for _, obj in iter_json_objects(ctx.path(SEEDS)) if obj.get("origin") in originals]
    for strategy in strategies(ctx):
        rows += [obj for _, obj in iter_json_objects(generated_path(ctx, strategy))]
    write_jsonl_atomic(ctx.path(INSTRUCTIONS), rows)
    cfg = ctx.config.respond
    settings = RespondSettings(
        system_prompt=cfg.system_prompt, sampling=cfg.sampling, drop_truncated=cfg.drop_truncated
    )
    with progress_bar("respond") as (bar, task):
        report = respond(
            ctx.teacher(),
            ctx.store(),
            ctx.path(INSTRUCTIONS),
            ctx.path(RESPONSES),
            settings,
            on_total=lambda total: bar.update(task, total=total),
            on_progress=lambda: bar.advance(task),
        )
    console.print(f"  respond: {report.calls.summary()}")
    if report.failed:
        raise IncompleteStage(
            f"respond: {report.failed} of {report.instructions} instructions got no answer "
            f"(listed in {report.failures_path}); re-run to retry them"
        )
    return {
        "instructions": report.instructions,
        "written": report.written,
        "truncated": report.truncated,
    }


# -- dataset -------------------------------------------------------------------------------


def eval_files(ctx: Context) -> list[Path]:
    """Evaluation files to decontaminate against: the configured ones and the built-in suite."""
    cfg = ctx.config.dataset.decontaminate
    files = [ctx.loaded.resolve(f) for f in cfg.files]
    builtin = bundled_file(BUILTIN_EVAL_DIR)
    if cfg.builtin_suite and builtin.is_dir():
        files += sorted(builtin.glob("*.jsonl"))
    return files


def _dataset_inputs(ctx: Context) -> dict[str, Path]:
    inputs = {"responses": ctx.path(RESPONSES), "seeds": ctx.path(SEEDS)}
    inputs.update({f"eval[{i}]": p for i, p in enumerate(eval_files(ctx))})
    return inputs


def _card_info(ctx: Context) -> Any:
    from herdsman.dataset_card import CardInfo
    from herdsman.prompts import PromptTemplate

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
            example_prompt = planner_for(ctx, "example", seeds, []).plan(0).prompt
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
    )


def _run_dataset(ctx: Context) -> dict[str, Any]:
    from herdsman.dataset import build_dataset, report_json
    from herdsman.dataset_card import render_card

    cfg = ctx.config.dataset
    token = None
    if cfg.push_to_hub:
        token = os.environ.get(cfg.hub_token_env)
        if not token:
            raise HerdsmanError(
                f"dataset.push_to_hub is set but ${cfg.hub_token_env} is empty (set the token "
                "or remove push_to_hub)"
            )
    info = _card_info(ctx)
    report = build_dataset(
        ctx.path(RESPONSES),
        ctx.path(DATASET),
        cfg,
        eval_files(ctx),
        card=lambda r: render_card(r, info),
    )
    if cfg.push_to_hub and token:
        import datasets

        if "hf" not in cfg.formats:
            raise HerdsmanError("dataset.push_to_hub needs 'hf' in dataset.formats")
        datasets.load_from_disk(str(ctx.path(DATASET) / "hf")).push_to_hub(
            cfg.push_to_hub, token=token, private=cfg.private
        )
        console.print(f"  pushed to the hub as {cfg.push_to_hub}")
    return report_json(report)


# -- analyze -------------------------------------------------------------------------------


def _run_analyze(ctx: Context) -> dict[str, Any]:
    from herdsman.analyze import AnalyzeSettings, analyze, summary_lines

    cfg = ctx.config.analyze
    result = analyze(
        ctx.path(DATASET),
        ctx.path(ANALYSIS),
        AnalyzeSettings(
            batch_size=cfg.batch_size,
            max_points=cfg.max_points,
            perplexity=cfg.perplexity,
            seed=cfg.seed,
        ),
    )
    for line in summary_lines(result):
        console.print(f"  {line}")
    return {"timings_s": result.numbers["timings_s"], "rows": result.numbers["rows"]}


# -- train ---------------------------------------------------------------------------------

STUDENTS = "students"


def student_dir(ctx: Context, name: str) -> Path:
    """Where a student of the herd is saved."""
    return ctx.path(STUDENTS) / name


def _train_inputs(ctx: Context) -> dict[str, Path]:
    return {s: ctx.path(DATASET) / f"{s}.jsonl" for s in ("train", "held_out")}


def _run_train(ctx: Context) -> dict[str, Any]:
    from herdsman.fingerprint import fingerprint
    from herdsman.herd import herd_table
    from herdsman.train import read_outcome, train_student

    inputs = _train_inputs(ctx)
    outcomes: dict[str, Any] = {}
    for student in ctx.config.students:
        folder = student_dir(ctx, student.name)
        mark = fingerprint(student.model_dump(mode="json"), inputs)
        try:
            done = read_outcome(folder)
        except HerdsmanError:
            done = {}
        if done.get("fingerprint") == mark:
            console.print(f"  {student.name}: up to date")
            outcomes[student.name] = done
            continue
        outcome = train_student(student, ctx.path(DATASET), folder, fingerprint=mark)
        outcomes[student.name] = read_outcome(folder)
        console.print(
            f"  {student.name}: {outcome.steps} steps in {outcome.train_seconds:.0f}s, "
            f"final loss {outcome.final_loss}, held-out loss {outcome.held_out_loss}"
        )
    console.print(herd_table(list(outcomes.values())))
    return {
        name: {
            k: o.get(k)
            for k in ("architecture", "parameters", "train_seconds", "final_loss", "held_out_loss")
        }
        for name, o in outcomes.items()
    }


def _analyze_inputs(ctx: Context) -> dict[str, Path]:
    # The JSONL splits, not the folder: Arrow files differ between identical exports.
    splits = {s: ctx.path(DATASET) / f"{s}.jsonl" for s in ("train", "held_out")}
    if all(p.is_file() for p in splits.values()):
        return dict(splits)
    return {"dataset": ctx.path(DATASET)}


CORE_STAGES: tuple[Stage, ...] = (
    Stage(
        "seeds",
        "load and normalise the seed sources",
        outputs=lambda ctx: [ctx.path(SEEDS)],
        inputs=_seed_inputs,
        settings=lambda ctx: [s.model_dump(mode="json") for s in ctx.config.seeds],
        run=_run_seeds,
    ),
    Stage(
        "topics",
        "topics for topic-guided generation",
        outputs=lambda ctx: [ctx.path(TOPICS)],
        inputs=_topic_input,
        settings=lambda ctx: ctx.config.topics.model_dump(mode="json"),
        run=_run_topics,
        enabled=lambda ctx: ctx.config.topics is not None,
    ),
    Stage(
        "generate",
        "example- and topic-guided instruction generation",
        outputs=lambda ctx: [generated_path(ctx, s) for s in strategies(ctx)],
        inputs=_generate_inputs,
        settings=_generate_settings,
        run=_run_generate,
        enabled=lambda ctx: bool(strategies(ctx)),
        calls_teacher=True,
    ),
    Stage(
        "respond",
        "the teacher answers every instruction",
        outputs=lambda ctx: [ctx.path(INSTRUCTIONS), ctx.path(RESPONSES)],
        inputs=_respond_inputs,
        settings=_respond_settings,
        run=_run_respond,
        calls_teacher=True,
    ),
    Stage(
        "dataset",
        "decontaminate, split, export (JSONL, Parquet, HF) with a dataset card",
        outputs=lambda ctx: [ctx.path(DATASET)],
        inputs=_dataset_inputs,
        settings=lambda ctx: ctx.config.dataset.model_dump(mode="json"),
        run=_run_dataset,
    ),
    Stage(
        "analyze",
        "composition, lengths, diversity map",
        outputs=lambda ctx: [ctx.path(ANALYSIS)],
        inputs=_analyze_inputs,
        settings=lambda ctx: ctx.config.analyze.model_dump(mode="json"),
        run=_run_analyze,
        enabled=lambda ctx: ctx.config.analyze.enabled,
    ),
    Stage(
        "train",
        "train the herd of students",
        outputs=lambda ctx: [student_dir(ctx, s.name) for s in ctx.config.students],
        inputs=_train_inputs,
        settings=lambda ctx: [s.model_dump(mode="json") for s in ctx.config.students],
        run=_run_train,
        enabled=lambda ctx: bool(ctx.config.students),
    ),
)
