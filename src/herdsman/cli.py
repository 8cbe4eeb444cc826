"""The ``herdsman`` command line (DESIGN.md §3 is its contract)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from herdsman.console import console, error_line, progress_bar
from herdsman.errors import HerdsmanError
from herdsman.teachers import OPENAI_DEFAULT_URL

# Stage modules (pydantic, transformers, ...) are imported inside the commands
# that need them, so `herdsman topics` or `--help` starts in a quarter second.
if TYPE_CHECKING:
    from herdsman.records import SamplingParams
    from herdsman.teachers.factory import TeacherOptions

SEED_FORMATS = "auto, self-instruct, alpaca, p3, flan, jsonl"

app = typer.Typer(
    name="herdsman",
    help="Distil a strong teacher model into a herd of small students (LaMini-LM as a tool).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

EXIT_USER_ERROR = 1
EXIT_INCOMPLETE = 3


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn herdsman errors into one line and a non-zero exit; Ctrl-C into a resume hint."""
    try:
        yield
    except HerdsmanError as exc:
        error_line(str(exc))
        raise typer.Exit(EXIT_USER_ERROR) from None
    except KeyboardInterrupt:
        error_line("interrupted; finished calls are saved in the run store, re-run to resume")
        raise typer.Exit(130) from None


# Teacher options, shared by every command that calls a teacher.
TeacherOpt = Annotated[
    str, typer.Option("--teacher", help="Backend: local, openai or vllm (herdsman[vllm], GPU).")
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Model name (openai) or local model folder (local; default: embedded SmolLM2-135M-Instruct).",
    ),
]
BaseUrlOpt = Annotated[str, typer.Option("--base-url", help="OpenAI-compatible endpoint.")]
KeyEnvOpt = Annotated[
    str, typer.Option("--api-key-env", help="Environment variable holding the API key.")
]
ConcOpt = Annotated[int, typer.Option("--concurrency", min=1, help="Requests in flight (openai).")]
BatchOpt = Annotated[
    int, typer.Option("--batch-size", min=1, help="Prompts per generate() batch (local).")
]
RpmOpt = Annotated[float | None, typer.Option("--rpm", help="Requests-per-minute limit (openai).")]
TpmOpt = Annotated[float | None, typer.Option("--tpm", help="Tokens-per-minute limit (openai).")]
RetriesOpt = Annotated[int, typer.Option("--max-retries", min=0, help="Retries per call (openai).")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds per HTTP request (openai).")]
PricesOpt = Annotated[
    Path | None,
    typer.Option(
        "--prices", help="YAML/JSON price table: model: {input, output} USD per 1M tokens."
    ),
]
TempOpt = Annotated[float, typer.Option("--temperature", min=0.0, max=2.0)]
TopPOpt = Annotated[float, typer.Option("--top-p", min=0.0, max=1.0)]
MaxTokOpt = Annotated[int, typer.Option("--max-tokens", min=1, help="Completion token limit.")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Sampling seed.")]
StoreOpt = Annotated[
    Path | None,
    typer.Option("--store", help="Run store (default: OUT's folder/.herdsman/store.sqlite)."),
]
RayOpt = Annotated[
    str | None,
    typer.Option(
        "--ray",
        metavar="ADDRESS",
        help="Spread calls over Ray workers (herdsman[ray]): local (start a cluster on this "
        "machine), auto (the running cluster) or ray://HOST:PORT.",
    ),
]
RayWorkersOpt = Annotated[int, typer.Option("--ray-workers", min=1, help="Ray worker actors.")]
SkipBadOpt = Annotated[
    bool,
    typer.Option("--skip-bad", help="Skip malformed input lines (counted) instead of stopping."),
]


def default_store(out: Path) -> Path:
    """Where a command keeps its run store when ``--store`` is not given."""
    return out.resolve().parent / ".herdsman" / "store.sqlite"


@app.command()
def seeds(
    inputs: Annotated[list[Path], typer.Argument(help="Seed files or folders.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output JSONL.")],
    fmt: Annotated[str, typer.Option("--format", help=f"One of: {SEED_FORMATS}.")] = "auto",
    skip_bad: SkipBadOpt = False,
) -> None:
    """Normalise seed tasks to JSONL records {id, instruction, input, output, source, subset}.

    Examples:

      herdsman seeds ../shared/data/self_instruct/seed_tasks.jsonl -o seeds.jsonl

      herdsman seeds p3_templates/ alpaca_data.json --format auto -o seeds.jsonl
    """
    from herdsman.jsonl import BadLines, write_jsonl_atomic
    from herdsman.seeds import load_seeds

    with user_errors():
        bad = BadLines()
        counts: dict[str, int] = {}

        def rows() -> Iterator[dict[str, str]]:
            for path in inputs:
                for seed in load_seeds(path, fmt, skip_bad=skip_bad, bad=bad):
                    counts[seed.source] = counts.get(seed.source, 0) + 1
                    yield seed.model_dump(exclude={"origin"})

        n = write_jsonl_atomic(out, rows())
        per = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        console.print(f"wrote {n} seeds to {out} ({per or 'none'})")
        if bad.count:
            console.print(f"skipped {bad.count} malformed record(s), first: {bad.examples[0]}")


@app.command()
def respond(
    in_path: Annotated[Path, typer.Argument(metavar="IN.jsonl", help="Instructions to answer.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output LaMini JSONL.")],
    teacher: TeacherOpt = "local",
    model: ModelOpt = None,
    base_url: BaseUrlOpt = OPENAI_DEFAULT_URL,
    api_key_env: KeyEnvOpt = "OPENAI_API_KEY",
    concurrency: ConcOpt = 16,
    batch_size: BatchOpt = 16,
    rpm: RpmOpt = None,
    tpm: TpmOpt = None,
    max_retries: RetriesOpt = 6,
    timeout: TimeoutOpt = 120.0,
    prices: PricesOpt = None,
    temperature: TempOpt = 0.0,
    top_p: TopPOpt = 1.0,
    max_tokens: MaxTokOpt = 512,
    seed: SeedOpt = None,
    system_prompt: Annotated[
        str | None,
        typer.Option(
            "--system-prompt",
            help="System message (default asks for concise answers; '' for none).",
        ),
    ] = None,
    source: Annotated[
        str, typer.Option("--source", help="instruction_source for records that carry none.")
    ] = "custom",
    drop_truncated: Annotated[
        bool, typer.Option("--drop-truncated", help="Leave out answers cut by --max-tokens.")
    ] = False,
    store: StoreOpt = None,
    skip_bad: SkipBadOpt = False,
    batch_api: Annotated[
        bool,
        typer.Option(
            "--batch-api",
            help="openai: submit through the Batch API (half price, answers within 24 h; "
            "re-run the same command to resume polling).",
        ),
    ] = False,
    poll: Annotated[
        float, typer.Option("--poll", min=0.01, help="Seconds between Batch API polls.")
    ] = 30.0,
    ray: RayOpt = None,
    ray_workers: RayWorkersOpt = 2,
) -> None:
    """Have the teacher answer every instruction once; write LaMini records in input order.

    Re-running the same command after a crash or Ctrl-C finishes the job: finished
    calls are kept in the run store and never made twice.

    Examples:

      herdsman respond seeds.jsonl -o lamini.jsonl

      OPENAI_API_KEY=... herdsman respond seeds.jsonl -o lamini.jsonl --teacher openai --model gpt-4o-mini --concurrency 64

      herdsman respond seeds.jsonl -o out.jsonl --teacher openai --base-url http://localhost:8000/v1 --model Qwen/Qwen2.5-7B-Instruct

      herdsman respond all.jsonl -o lamini.jsonl --teacher openai --model gpt-4o-mini --batch-api

      herdsman respond all.jsonl -o lamini.jsonl --ray auto --ray-workers 8 --teacher vllm --model /models/Llama-3-70B
    """
    from herdsman.respond import DEFAULT_SYSTEM_PROMPT, RespondSettings
    from herdsman.respond import respond as run_respond
    from herdsman.store import RunStore
    from herdsman.teachers.factory import build_teacher

    with user_errors():
        options = _teacher_options(
            teacher,
            model,
            base_url,
            api_key_env,
            concurrency,
            batch_size,
            rpm,
            tpm,
            max_retries,
            timeout,
            prices,
        )
        sampling = _sampling(temperature, top_p, max_tokens, seed)
        settings = RespondSettings(
            system_prompt=DEFAULT_SYSTEM_PROMPT if system_prompt is None else system_prompt,
            sampling=sampling,
            default_source=source,
            drop_truncated=drop_truncated,
        )
        if not in_path.exists():
            raise HerdsmanError(f"{in_path}: no such file")
        if batch_api:
            if teacher != "openai":
                raise HerdsmanError("--batch-api needs --teacher openai")
            journal = (store or default_store(out)).parent / "batches.jsonl"
            options = options.model_copy(
                update={"batch_api": True, "batch_journal": journal, "batch_poll_s": poll}
            )
        if ray:
            options = options.model_copy(update={"ray_address": ray, "ray_workers": ray_workers})
        built = build_teacher(options)
        with (
            RunStore(store or default_store(out)) as run_store,
            progress_bar("respond") as (bar, task),
        ):
            report = run_respond(
                built,
                run_store,
                in_path,
                out,
                settings,
                skip_bad=skip_bad,
                on_total=lambda n: bar.update(task, total=n),
                on_progress=lambda: bar.advance(task),
            )
        console.print(
            f"wrote {report.written} of {report.instructions} records to {out}; calls: {report.calls.summary()}"
        )
        if report.skipped_bad:
            console.print(f"skipped {report.skipped_bad} malformed input line(s)")
        if report.truncated:
            verb = "left out" if drop_truncated else "kept, marked finish_reason=length"
            console.print(f"{report.truncated} answer(s) cut by --max-tokens ({verb})")
        if report.failed:
            error_line(
                f"{report.failed} instruction(s) have no answer (reasons in {report.failures_path}); "
                "re-run the same command to retry them"
            )
            raise typer.Exit(EXIT_INCOMPLETE)


@app.command()
def topics(
    dump: Annotated[
        Path,
        typer.Argument(
            metavar="DUMP", help="MediaWiki category table dump (.sql, .sql.gz, .sql.bz2)."
        ),
    ],
    out: Annotated[
        Path, typer.Option("-o", "--out", help="Output: one topic per line, most pages first.")
    ],
    max_words: Annotated[
        int, typer.Option("--max-words", min=1, help="Keep titles of at most this many words.")
    ] = 2,
    min_subcats: Annotated[
        int,
        typer.Option(
            "--min-subcats", min=0, help="Keep categories with at least this many subcategories."
        ),
    ] = 11,
    min_pages: Annotated[
        int,
        typer.Option("--min-pages", min=0, help="Keep categories with at least this many pages."),
    ] = 51,
    skip_bad: Annotated[
        bool,
        typer.Option("--skip-bad", help="Skip malformed tuples (counted) instead of stopping."),
    ] = False,
) -> None:
    """Filter Wikipedia's category list to common topics (the paper's topic-guided generation).

    Defaults are the paper's: fewer than 3 words, more than 10 subcategories,
    more than 50 pages (bounds are inclusive, on the raw cat_subcats / cat_pages).

    Example:

      herdsman topics enwiki-latest-category.sql.gz -o topics.txt
    """
    from herdsman.topics import TopicFilter, read_topics, write_topics

    with user_errors():
        found, stats = read_topics(
            dump, TopicFilter(max_words, min_subcats, min_pages), skip_bad=skip_bad
        )
        write_topics(out, found)
        console.print(
            f"wrote {stats.kept} topics to {out} from {stats.rows:,} categories in {stats.statements} INSERT statements"
        )
        if stats.malformed:
            console.print(
                f"skipped {stats.malformed} malformed tuple(s), first at {stats.malformed_examples[0]}"
            )


@app.command()
def dedup(
    in_path: Annotated[
        Path, typer.Argument(metavar="IN.jsonl", help="Records with an instruction field.")
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="Kept records, in input order.")],
    threshold: Annotated[
        float,
        typer.Option("--threshold", min=0.01, max=0.99, help="Drop when ROUGE-L F is above this."),
    ] = 0.7,
    field_name: Annotated[
        str, typer.Option("--field", help="Field holding the text to compare.")
    ] = "instruction",
    dropped: Annotated[
        Path | None,
        typer.Option("--dropped", help="Also write dropped records with reason and match."),
    ] = None,
    skip_bad: SkipBadOpt = False,
) -> None:
    """Drop exact, then near duplicates (Self-Instruct's ROUGE-L rule), keeping input order.

    Same decisions as comparing every pair, in near-linear time.

    Example:

      herdsman dedup generated.jsonl -o unique.jsonl --threshold 0.7 --dropped dropped.jsonl
    """
    from herdsman.dedup_file import dedup_file

    with user_errors():
        stats = dedup_file(in_path, out, threshold, field_name, dropped, skip_bad=skip_bad)
        console.print(
            f"kept {stats.kept} of {stats.total} records -> {out} "
            f"({stats.exact} exact and {stats.near} near duplicates dropped)"
        )


@app.command()
def generate(
    strategy: Annotated[
        str, typer.Option("--strategy", help="example (seed-guided) or topic (topic-guided).")
    ],
    seeds_path: Annotated[
        Path, typer.Option("--seeds", help="Seeds JSONL (output of herdsman seeds).")
    ],
    n: Annotated[int, typer.Option("-n", min=1, help="New instructions to keep.")],
    out: Annotated[
        Path, typer.Option("-o", "--out", help="Output JSONL of generated instructions.")
    ],
    topics_path: Annotated[
        Path | None, typer.Option("--topics", help="Topics file, one per line (topic strategy).")
    ] = None,
    examples: Annotated[
        int, typer.Option("--examples", min=1, help="Seed examples per prompt.")
    ] = 3,
    per_call: Annotated[
        int | None,
        typer.Option(
            "--per-call",
            min=1,
            help="Instructions asked per call (default 20; 10 for P3/FLAN seeds).",
        ),
    ] = None,
    topics_per_prompt: Annotated[int, typer.Option("--topics-per-prompt", min=1)] = 3,
    template: Annotated[
        Path | None, typer.Option("--template", help="YAML/JSON overriding the prompt templates.")
    ] = None,
    random_seed: Annotated[
        int, typer.Option("--random-seed", help="Seed for sampling examples and topics.")
    ] = 42,
    max_calls: Annotated[
        int | None, typer.Option("--max-calls", min=1, help="Give up after this many calls.")
    ] = None,
    threshold: Annotated[
        float,
        typer.Option("--threshold", min=0.01, max=0.99, help="Near-duplicate ROUGE-L threshold."),
    ] = 0.7,
    no_filter: Annotated[
        list[str] | None,
        typer.Option(
            "--no-filter",
            help="Switch a filter off: too_short, too_long, unsuitable, program, punctuation, non_english.",
        ),
    ] = None,
    teacher: TeacherOpt = "local",
    model: ModelOpt = None,
    base_url: BaseUrlOpt = OPENAI_DEFAULT_URL,
    api_key_env: KeyEnvOpt = "OPENAI_API_KEY",
    concurrency: ConcOpt = 16,
    batch_size: BatchOpt = 16,
    rpm: RpmOpt = None,
    tpm: TpmOpt = None,
    max_retries: RetriesOpt = 6,
    timeout: TimeoutOpt = 120.0,
    prices: PricesOpt = None,
    temperature: TempOpt = 0.7,
    top_p: TopPOpt = 0.95,
    max_tokens: MaxTokOpt = 1024,
    seed: SeedOpt = None,
    store: StoreOpt = None,
    ray: RayOpt = None,
    ray_workers: RayWorkersOpt = 2,
) -> None:
    """Generate new instructions with the teacher until N are kept after filtering and dedup.

    Resumable: the same command after a crash replays finished calls from the run store.

    Examples:

      herdsman generate --strategy example --seeds seeds.jsonl -n 1000 -o gen.jsonl --teacher openai --model gpt-4o-mini

      herdsman generate --strategy topic --seeds seeds.jsonl --topics topics.txt -n 1000 -o topic.jsonl
    """
    from herdsman.filters import FilterConfig
    from herdsman.generate import GenerateSettings
    from herdsman.generate import generate as run_generate
    from herdsman.prompts import Planner, PromptTemplate
    from herdsman.seeds import load_seeds
    from herdsman.store import RunStore
    from herdsman.teachers.factory import build_teacher
    from herdsman.topics import load_topic_list

    with user_errors():
        options = _teacher_options(
            teacher,
            model,
            base_url,
            api_key_env,
            concurrency,
            batch_size,
            rpm,
            tpm,
            max_retries,
            timeout,
            prices,
        )
        sampling = _sampling(temperature, top_p, max_tokens, seed)
        try:
            filters = FilterConfig().without(no_filter or [])
        except ValueError as exc:
            raise HerdsmanError(f"--no-filter: {exc}") from None
        seed_list = list(load_seeds(seeds_path, "auto"))
        topic_list = load_topic_list(topics_path) if topics_path else None
        planner = Planner(
            strategy,
            seed_list,
            PromptTemplate.from_file(template) if template else None,
            topic_list,
            n_examples=examples,
            per_call=per_call,
            topics_per_prompt=topics_per_prompt,
            seed=random_seed,
        )
        if planner.skipped_subsets:
            console.print(
                f"note: {len(planner.skipped_subsets)} subset(s) have fewer than {examples} seeds and are not used"
            )
        wave = concurrency if teacher == "openai" else batch_size
        settings = GenerateSettings(
            n=n,
            sampling=sampling,
            wave=wave,
            max_calls=max_calls,
            threshold=threshold,
            filters=filters,
        )
        if ray:
            options = options.model_copy(update={"ray_address": ray, "ray_workers": ray_workers})
            wave = max(wave, ray_workers * options.batch_size)  # keep every worker busy
            settings = replace(settings, wave=wave)
        built = build_teacher(options)
        with (
            RunStore(store or default_store(out)) as run_store,
            progress_bar(f"generate ({strategy})") as (bar, task),
        ):
            bar.update(task, total=n)
            report = run_generate(
                built,
                run_store,
                planner,
                settings,
                out,
                on_progress=lambda k: bar.update(task, completed=k),
            )
        for line in report.lines():
            console.print(line)
        console.print(f"wrote {report.kept} instructions to {out}")
        if not report.reached:
            error_line(
                f"kept {report.kept} of {n} after {report.calls} calls (budget {settings.call_budget()}); "
                "raise --max-calls, or use a stronger teacher"
            )
            raise typer.Exit(EXIT_INCOMPLETE)


@app.command()
def run(
    config: Annotated[
        Path, typer.Argument(help="Pipeline config (YAML); `herdsman init` writes one.")
    ],
    stage: Annotated[
        list[str] | None,
        typer.Option(
            "--stage",
            help="Run only this stage (repeatable): seeds, topics, generate, respond, dataset, analyze, train.",
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
    from herdsman.stages import IncompleteStage

    with user_errors():
        loaded = load_config(config)
        if dry_run:
            from herdsman.dry_run import print_dry_run

            print_dry_run(loaded, stage)
            return
        from herdsman.pipeline import run_pipeline

        try:
            result = run_pipeline(loaded, stage, force=force)
        except IncompleteStage as exc:
            error_line(str(exc))
            raise typer.Exit(EXIT_INCOMPLETE) from None
        console.print(f"run folder: {result.run_dir}")


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
    from herdsman.atomic import write_text_atomic
    from herdsman.config import bundled_file

    with user_errors():
        if path.exists() and not overwrite:
            raise HerdsmanError(f"{path}: already exists (use --overwrite to replace it)")
        write_text_atomic(path, bundled_file("example.yaml").read_text(encoding="utf-8"))
        console.print(f"wrote {path}; preview it with: herdsman run {path} --dry-run")


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
    from herdsman.analyze import AnalyzeSettings, summary_lines
    from herdsman.analyze import analyze as run_analyze

    with user_errors():
        result = run_analyze(
            dataset,
            out,
            AnalyzeSettings(batch_size=batch_size, max_points=max_points, embed=not no_embed),
        )
        for line in summary_lines(result):
            console.print(line)


@app.command()
def train(
    config: Annotated[
        Path | None, typer.Argument(help="Pipeline config: trains every student in it.")
    ] = None,
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            help="Base model: folder, cached hub id, gemma-3-270m, smollm2-135m-instruct, t5-scratch.",
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="herdsman dataset/ folder or LaMini JSONL/Parquet."),
    ] = None,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Student folder.")] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Student name (default: folder name).")
    ] = None,
    method: Annotated[str, typer.Option("--method", help="full or lora.")] = "full",
    architecture: Annotated[
        str, typer.Option("--architecture", help="auto, causal or seq2seq.")
    ] = "auto",
    wrapper: Annotated[str, typer.Option("--wrapper", help="auto, alpaca, chat or none.")] = "auto",
    epochs: Annotated[float, typer.Option("--epochs", min=0.01)] = 5.0,
    learning_rate: Annotated[float, typer.Option("--lr", min=0.0)] = 5e-4,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Effective batch.")] = 512,
    per_device: Annotated[int, typer.Option("--per-device-batch-size", min=1)] = 8,
    max_length: Annotated[int, typer.Option("--max-length", min=8)] = 512,
    max_steps: Annotated[int | None, typer.Option("--max-steps", min=1)] = None,
    padding: Annotated[
        str, typer.Option("--padding", help="packing, group_by_length or none.")
    ] = "packing",
    seed: Annotated[int, typer.Option("--seed")] = 42,
) -> None:
    """Fine-tune students on a LaMini dataset (defaults: the paper's hyperparameters).

    Decoder-only bases train through TRL's SFTTrainer (loss on the answer only,
    packed without cross-talk); encoder-decoder bases through Seq2SeqTrainer.
    Re-running after an interruption resumes from the last checkpoint. Works
    under `accelerate launch` (DDP, DeepSpeed, FSDP) unchanged.

    Examples:

      herdsman train my-run.yaml

      herdsman train --base gemma-3-270m --data run/dataset -o students/gemma --epochs 3 --batch-size 64

      accelerate launch --num_processes 2 -m herdsman train --base /models/llama --data run/dataset -o students/llama --method lora
    """
    with user_errors():
        if config is not None:
            if base or data or out:
                raise HerdsmanError("give either CONFIG or --base/--data/-o, not both")
            from herdsman.config import load_config
            from herdsman.pipeline import run_pipeline

            run_pipeline(load_config(config), ["train"])
            return
        if not (base and data and out):
            raise HerdsmanError("give a CONFIG, or all of --base, --data and -o")
        from pydantic import ValidationError

        from herdsman.config import StudentConfig
        from herdsman.herd import herd_table
        from herdsman.train import read_outcome, train_student

        try:
            student = StudentConfig(
                name=name or out.name,
                base=base,
                method=method,
                architecture=architecture,
                wrapper=wrapper,
                epochs=epochs,
                learning_rate=learning_rate,
                batch_size=batch_size,
                per_device_batch_size=per_device,
                max_length=max_length,
                max_steps=max_steps,
                padding=padding,
                seed=seed,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            raise HerdsmanError(f"--{first['loc'][0]}: {first['msg']}") from None
        if not data.exists():
            raise HerdsmanError(f"{data}: no such file or folder")
        outcome = train_student(student, data, out)
        from herdsman.train_plan import is_main_process

        if is_main_process():
            console.print(herd_table([read_outcome(out)]))
            console.print(f"student saved to {out} ({outcome.steps} steps)")


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
    from herdsman.demo import run_demo

    with user_errors():
        run_demo(out, quick=quick)


def _teacher_options(
    teacher: str,
    model: str | None,
    base_url: str,
    api_key_env: str,
    concurrency: int,
    batch_size: int,
    rpm: float | None,
    tpm: float | None,
    max_retries: int,
    timeout: float,
    prices: Path | None,
) -> TeacherOptions:
    from herdsman.teachers.factory import TeacherOptions

    if teacher not in ("local", "openai", "vllm"):
        raise HerdsmanError(f"--teacher: unknown backend '{teacher}' (local, openai or vllm)")
    return TeacherOptions(
        backend=teacher,
        model=model,
        base_url=base_url,
        api_key_env=api_key_env,
        concurrency=concurrency,
        batch_size=batch_size,
        rpm=rpm,
        tpm=tpm,
        max_retries=max_retries,
        timeout_s=timeout,
        prices=prices,
    )


def _sampling(
    temperature: float, top_p: float, max_tokens: int, seed: int | None
) -> SamplingParams:
    from herdsman.records import SamplingParams

    if top_p <= 0:
        raise HerdsmanError("--top-p must be above 0")
    return SamplingParams(temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed)


def main() -> None:
    """Console-script entry point."""
    # Nothing is ever fetched from a model hub at run time.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")  # lm-eval's and transformers' bars; ours are rich
    app(prog_name="herdsman")
    sys.exit(0)


# eval, judge, rate and report live in their own module and register on `app`.
from herdsman import cli_eval  # noqa: E402,F401

if __name__ == "__main__":
    main()
