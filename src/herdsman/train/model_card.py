"""A student's model card (``README.md``) and its loss curve figure."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from herdsman.io.templating import markdown_env

if TYPE_CHECKING:
    from herdsman.config import StudentConfig
    from herdsman.train.plan import TrainPlan
    from herdsman.train.student import TrainOutcome

#: The prompt wrappers the card's template describes (see :mod:`herdsman.train.wrappers`).
WRAPPERS = ("alpaca", "chat", "none")
#: The hub repositories the embedded aliases' GGUF files were quantised from.
EMBEDDED_HUB_IDS = {
    "smollm2-135m-instruct": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "gemma-3-270m": "google/gemma-3-270m",
}
#: How the Hugging Face cache names a model repository's folder (``models--owner--name``).
HUB_REPO_FOLDER = "models--"


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


def base_model_id(name: str, path: Path | None) -> str | None:
    """The hub id the card's ``base_model`` names, so the hub links the student to its base.

    Args:
        name: The base as the config or the command line gave it (an alias, a hub id, a folder).
        path: The folder it was loaded from, ``None`` when unknown (a pruned student's source).

    Returns:
        The embedded alias's source repository; the repository of a snapshot folder in
        the Hugging Face cache; for an unknown folder, ``name`` when it is a hub id that is
        no local folder; else ``None`` (a local folder, a scratch model: no hub lineage).
    """
    if name in EMBEDDED_HUB_IDS:
        return EMBEDDED_HUB_IDS[name]
    if path is not None:
        repo = path.parent.parent.name
        if path.parent.name == "snapshots" and repo.startswith(HUB_REPO_FOLDER):
            return repo[len(HUB_REPO_FOLDER) :].replace("--", "/")
        return None
    from herdsman.io.model_refs import is_hub_id

    return name if is_hub_id(name) and not Path(name).exists() else None


def _base_model(outcome: TrainOutcome, plan: TrainPlan) -> str | None:
    """``base_model`` of the front matter: the base's hub id, or the pruned source's."""
    if plan.base.from_scratch:
        return None
    init = outcome.init or {}
    if init.get("kind") == "prune":
        return base_model_id(str(init.get("from") or ""), None)
    return base_model_id(plan.base.name, plan.base.path)


def render_model_card(
    student: StudentConfig, outcome: TrainOutcome, data_path: Path, plan: TrainPlan
) -> str:
    """Markdown with Hugging Face front matter (``templates/model_card.md.j2``)."""
    if outcome.wrapper not in WRAPPERS:
        raise ValueError(f"no model card wording for wrapper {outcome.wrapper!r}")
    seq2seq = outcome.architecture == "seq2seq"
    lora = student.method == "lora"
    context = {
        "name": outcome.name,
        "base": outcome.base,
        "base_model": _base_model(outcome, plan),
        "seq2seq": seq2seq,
        "data_path": str(data_path),
        "examples": outcome.examples,
        "held_out_examples": outcome.held_out_examples,
        "wrapper": outcome.wrapper,
        "from_scratch": plan.base.from_scratch,
        "method": outcome.method,
        "lora": {"r": student.lora.r, "alpha": student.lora.alpha} if lora else None,
        "parameters": f"{outcome.parameters:,}",
        "learning_rate": f"{student.learning_rate:g}",
        "warmup_ratio": f"{student.warmup_ratio:g}",
        "batch_size": student.batch_size,
        "per_device_batch_size": student.per_device_batch_size,
        "accumulation": plan.accumulation,
        "epochs": f"{student.epochs:g}",
        "steps": outcome.steps,
        "max_length": student.max_length,
        "padding": student.padding
        if not seq2seq or student.padding != "packing"
        else "group_by_length",
        "seed": student.seed,
        "train_seconds": f"{outcome.train_seconds:.0f}",
        "tokens_per_second": f"{outcome.tokens_per_second:,.0f}",
        "final_loss": _loss(outcome.final_loss),
        "held_out_loss": _loss(outcome.held_out_loss),
        "loader": "AutoModelForSeq2SeqLM" if seq2seq else "AutoModelForCausalLM",
        "objective": outcome.objective,
        "kd_alpha": f"{student.kd_alpha:g}",
        "kd_temperature": f"{student.kd_temperature:g}",
        "teacher_model": student.teacher_model,
        "prune": _prune_context(outcome.init),
    }
    return markdown_env("herdsman.train").get_template("model_card.md.j2").render(context)


def _prune_context(init: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the card says of a pruned start: source, kept layers, size."""
    if not init or init.get("kind") != "prune":
        return None
    kept = list(init.get("kept_layers") or [])
    return {
        "source": init.get("from"),
        "kept": len(kept),
        "total": init.get("num_layers"),
        "kept_layers": ", ".join(str(i) for i in kept),
        "parameters": f"{int(init.get('parameters') or 0):,}",
    }


def _loss(value: float | None) -> str:
    return f"{value:.4f}" if value is not None else "n/a"
