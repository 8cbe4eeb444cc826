"""A student's model card (``README.md``) and its loss curve figure."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from herdsman.config import StudentConfig
    from herdsman.train.plan import TrainPlan
    from herdsman.train.student import TrainOutcome


def plot_loss_curve(history: list[tuple[int, float]], path: Path, name: str) -> Path:
    """Training loss by optimiser step (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    if history:
        steps, losses = zip(*history, strict=True)
        ax.plot(steps, losses, marker="o" if len(steps) < 30 else None, color="#4c72b0")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("training loss")
    ax.set_title(f"{name}: training loss")
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def render_model_card(
    student: StudentConfig, outcome: TrainOutcome, data_path: Path, plan: TrainPlan
) -> str:
    """Markdown with Hugging Face front matter."""
    seq2seq = outcome.architecture == "seq2seq"
    pipeline = "text2text-generation" if seq2seq else "text-generation"
    loader = "AutoModelForSeq2SeqLM" if seq2seq else "AutoModelForCausalLM"
    held = f"{outcome.held_out_loss:.4f}" if outcome.held_out_loss is not None else "n/a"
    final = f"{outcome.final_loss:.4f}" if outcome.final_loss is not None else "n/a"
    wrapper_note = {
        "alpaca": "the Alpaca-style wrapper of the LaMini-LM paper "
        "(`Below is an instruction ... ### Instruction:\\n{instruction}\\n\\n### Response:\\n`)",
        "chat": "the model's own chat template (one user turn)",
        "none": "the raw instruction" + (" as encoder input" if seq2seq else " and a newline"),
    }[outcome.wrapper]
    rows = [
        (
            "base",
            f"`{outcome.base}`" + (" (initialised from scratch)" if plan.base.from_scratch else ""),
        ),
        ("architecture", "encoder-decoder" if seq2seq else "decoder-only"),
        (
            "method",
            outcome.method
            + (
                f" (r={student.lora.r}, alpha={student.lora.alpha})"
                if student.method == "lora"
                else ""
            ),
        ),
        ("parameters", f"{outcome.parameters:,}"),
        (
            "learning rate",
            f"{student.learning_rate:g}, linear schedule, warm-up {student.warmup_ratio:g}",
        ),
        ("optimiser", "AdamW (torch)"),
        (
            "effective batch",
            f"{student.batch_size} ({student.per_device_batch_size} per device x {plan.accumulation} accumulation)",
        ),
        ("epochs / steps", f"{student.epochs:g} / {outcome.steps}"),
        ("max length", str(student.max_length)),
        (
            "padding reduction",
            student.padding if not seq2seq or student.padding != "packing" else "group_by_length",
        ),
        ("seed", str(student.seed)),
        (
            "train time",
            f"{outcome.train_seconds:.0f} s ({outcome.tokens_per_second:,.0f} real tokens/s)",
        ),
    ]
    lines = [
        "---",
        "library_name: transformers",
        f"pipeline_tag: {pipeline}",
        "tags:\n- herdsman\n- lamini\n- distillation",
        "---",
        "",
        f"# {outcome.name}",
        "",
        f"A student distilled with herdsman (LaMini-LM recipe): `{outcome.base}` fine-tuned on "
        f"teacher answers from `{data_path}` ({outcome.examples} training examples, "
        f"{outcome.held_out_examples} held out).",
        "",
        "## Prompt format",
        "",
        f"Training used {wrapper_note}; use the same at inference and evaluation "
        "(`herdsman-train.json` records it as `wrapper`).",
        "",
        "## Training",
        "",
        "| setting | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in rows),
        "",
        f"Final training loss {final}; held-out loss {held}.",
        "",
        "![loss curve](loss_curve.png)",
        "",
        "## Use",
        "",
        "```python",
        f"from transformers import AutoTokenizer, {loader}",
        "tokenizer = AutoTokenizer.from_pretrained(PATH)",
        f"model = {loader}.from_pretrained(PATH)",
        "```",
        "",
    ]
    if student.method == "lora":
        lines += [
            "The LoRA adapter alone is in `adapter/` (PEFT); this folder holds the merged model.",
            "",
        ]
    return "\n".join(lines)
