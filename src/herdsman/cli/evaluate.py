"""Commands that evaluate a herd: ``eval``, ``judge`` and ``report``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from herdsman.cli.app import (
    StoreOpt,
    app,
    store_for,
    user_errors,
)
from herdsman.cli.section_options import SectionSpec, with_section
from herdsman.cli.teacher_options import TeacherGroup
from herdsman.config import EvaluationConfig, JudgeConfig, StoreConfig
from herdsman.console import console
from herdsman.io.guard import Input, Output, check_paths
from herdsman.io.hub import set_hub_mode

if TYPE_CHECKING:
    from herdsman.teachers.options import TeacherOptions


#: What ``eval`` writes into its folder.
EVAL_FILES = (
    "benchmarks.json",
    "imitation.json",
    "probes.json",
    "degenerate.json",
    "answer_sheet.jsonl",
    "answers",
    "lm_eval",
)
#: What ``report`` reads in a run folder.
REPORT_READS = (
    "dataset/stats.json",
    "dataset/*.jsonl",
    "quality/report.json",
    "analysis",
    "selected/selection.json",
    "ablation/ablation.json",
    "students/*/herdsman-train.json",
    "eval",
)


@app.command("eval")
@with_section(
    SectionSpec(EvaluationConfig, "settings", exclude=frozenset({"judge"}), fixed={"enabled": True})
)
def eval_command(
    models: Annotated[list[Path], typer.Argument(help="Student (or any HF model) folders.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder.")] = Path("eval"),
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", help="herdsman dataset folder: imitation score on its held-out split."
        ),
    ] = None,
    online: Annotated[
        bool,
        typer.Option(
            "--online",
            help="Same as `herdsman --hub online eval`: lm-eval may download benchmark data "
            "(the paper's tasks).",
        ),
    ] = False,
    *,
    settings: EvaluationConfig,
) -> None:
    """Benchmarks (lm-eval), imitation score and probe answers for students and their bases.

    Writes benchmarks.json, probes.json and (with --data) imitation.json into OUT,
    and prints one table. Decoder-only students are evaluated inside the prompt
    wrapper they were trained with; bases with their student's wrapper.

    Examples:

      herdsman eval run/students/* -o run/eval

      herdsman eval run/students/t5 --tasks herdsman_paper --online --limit 200
    """
    if online:
        set_hub_mode("online")
    from herdsman.evaluate.evaluator import EvalSettings, Evaluator, load_probes
    from herdsman.evaluate.models import collect_models
    from herdsman.evaluate.tables import benchmark_table, comparisons_table, imitation_table

    with user_errors():
        check_paths(
            [
                *(Input(m, "MODEL", "folder") for m in models),
                *([Input(data, "--data", reads=("held_out.jsonl",))] if data else []),
                *([Input(Path(settings.probes), "--probes", "file")] if settings.probes else []),
            ],
            [Output(out, kind="folder", writes=EVAL_FILES)],
        )
        found = collect_models(models, with_bases=settings.bases)
        # Bad input fails before any model loads.
        prompts = load_probes(Path(settings.probes) if settings.probes else None)
        evaluator = Evaluator(found, out, EvalSettings.from_config(settings), log=console.print)
        result = evaluator.benchmarks()
        imitation = evaluator.imitation(data) if data is not None else None
        evaluator.probes(prompts)
        console.print(benchmark_table(result))
        if result.get("comparisons"):
            console.print(
                comparisons_table(result["comparisons"], "student - base, paired per task", "task")
            )
        if imitation:
            console.print(imitation_table(imitation))
            if imitation["comparisons"]:
                console.print(
                    comparisons_table(
                        imitation["comparisons"], "imitation gain over the base (paired)", "rouge_l"
                    )
                )
        for task, why in result["unavailable"].items():
            console.print(f"not run: {task}: {why}")
        console.print(f"wrote {out / 'benchmarks.json'}")


@app.command()
@with_section(
    SectionSpec(
        JudgeConfig,
        "settings",
        exclude=frozenset({"instructions"}),
        fixed={"enabled": True},
        defaults={"max_items": None},
    ),
    SectionSpec(StoreConfig, "store_settings"),
    TeacherGroup(),
)
def judge(
    answers: Annotated[
        list[Path],
        typer.Argument(
            help="Answer files: JSONL {instruction, input?, model, answer} or *_predictions.jsonl."
        ),
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output JSON.")],
    free_text: Annotated[
        bool,
        typer.Option("--free-text", help="Same as --no-constrained (kept for older scripts)."),
    ] = False,
    reference: Annotated[
        str,
        typer.Option(
            "--reference",
            help="The model whose answers are the references (the teacher's): the judge's "
            "controls are built from them, and reference-guided grading shows them.",
        ),
    ] = "teacher",
    store: StoreOpt = None,
    *,
    settings: JudgeConfig,
    store_settings: StoreConfig,
    teacher_options: TeacherOptions,
) -> None:
    """Grade answers with the paper's A-D rubric using a teacher model as judge, with controls.

    Every run also grades control answers built from the references (the
    reference itself, an answer to another instruction, the reference cut to a
    third, its words shuffled, a loop): a judge that cannot tell them apart is
    said so in judge.json and draws no verdict.

    Where the teacher can (local and vLLM teachers; OpenAI-compatible servers
    that return logprobs), the grade is a constrained choice: the probability
    of each grade letter, so every answer is graded. Otherwise replies are
    parsed strictly (a reply must start with the grade); an unparsable reply is
    asked once more, then recorded as unparsed. With
    --pairwise every pair is judged in both orders; disagreement is a tie.
    Judgements are cached in the run store.

    Examples:

      herdsman judge self-instruct/predictions/*.jsonl -o judge.json --teacher openai --model gpt-4o-mini

      herdsman judge run/eval/answer_sheet.jsonl -o run/eval/judge.json
    """
    from herdsman.evaluate.answer_sheets import AnswerSheet, read_answer_sheet
    from herdsman.evaluate.tables import grades_table
    from herdsman.io.atomic import write_text_atomic
    from herdsman.pipeline.stages.judge import judge_answers
    from herdsman.teachers.factory import build_teacher

    with user_errors():
        check_paths(
            [Input(a, "ANSWERS", "file") for a in answers],
            [Output(out, suffixes=(".json",)), *([Output(store, "--store")] if store else [])],
        )
        sheet = read_answer_sheet(answers)
        if settings.max_items:
            kept = sheet.items[: settings.max_items]
            sheet = AnswerSheet(kept, {i.id: sheet.answers[i.id] for i in kept}, sheet.models)
        if reference not in sheet.models:
            console.print(
                f"note: no answers of '{reference}' to use as references: the judge's controls "
                "cannot run, so its grades draw no verdict (--reference names the model)"
            )
        if free_text:
            settings = settings.model_copy(update={"constrained": False})
        built = build_teacher(teacher_options.live())  # never the Batch API
        try:
            with store_for(store, out, store_settings.durability) as run_store:
                result = judge_answers(sheet, built, run_store, settings, reference)
        finally:
            built.close()
        write_text_atomic(out, json.dumps(result, indent=1))
        console.print(grades_table(result))
        console.print(f"calls: {result['calls']}")
        console.print(f"wrote {out}")
        if result["bias"]["failed"]:
            raise typer.Exit(3)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="Run folder.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output HTML.")] = Path("report.html"),
) -> None:
    """Write one self-contained HTML report of a run (figures embedded).

    Parts the run has not produced yet are listed in the page and here.

    Example:

      herdsman report run -o report.html
    """
    from herdsman.report.page import write_report

    with user_errors():
        check_paths(
            [Input(run_dir, "RUN_DIR", "folder", reads=REPORT_READS)],
            [Output(out, suffixes=(".html", ".htm"))],
        )
        data = write_report(run_dir, out)
        for part, why in data.missing.items():
            console.print(f"not in the report: {part}: {why}")
        console.print(f"wrote {out}")
