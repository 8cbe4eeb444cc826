"""What every pipeline stage shares: the run folder's file names, the :class:`Context`, the :class:`Stage` record.

Each stage (one module in :mod:`herdsman.pipeline.stages`) is a :class:`Stage`
whose inputs are files (the config's and the earlier stages' outputs) and whose
settings are its config section; the runner (:mod:`herdsman.pipeline.runner`)
fingerprints both to decide what is up to date. Stages talk only through the
files in the run folder; their order lives in :mod:`herdsman.pipeline.order`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from herdsman.config import LoadedConfig, PipelineConfig
from herdsman.console import console
from herdsman.embedded import EMBEDDED_MODELS
from herdsman.io.model_refs import is_path_like
from herdsman.store.run_store import RunStore
from herdsman.teachers.base import Teacher
from herdsman.teachers.factory import build_teacher
from herdsman.teachers.options import TeacherOptions

SEEDS = "seeds.jsonl"
TOPICS = "topics.txt"
INSTRUCTIONS = "instructions.jsonl"
RESPONSES = "responses.jsonl"
#: The answers that passed the quality gate, and its folder (removed.jsonl, report.json).
ANSWERS = "answers.jsonl"
QUALITY = "quality"
DATASET = "dataset"
ANALYSIS = "analysis"
#: The run store, relative to the run folder.
STORE = Path(".herdsman") / "store.sqlite"
#: Offline evaluation items shipped with herdsman, decontaminated against by default.
BUILTIN_EVAL_DIR = "eval"


@dataclass
class Context:
    """What stages share during one ``herdsman run``: the config, the teacher, the store."""

    loaded: LoadedConfig
    run_dir: Path
    _teacher: Teacher | None = None
    _batch_teacher: Teacher | None = None
    _store: RunStore | None = None
    _identity: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def config(self) -> PipelineConfig:
        """The validated pipeline config."""
        return self.loaded.config

    def path(self, name: str) -> Path:
        """A file in the run folder."""
        return self.run_dir / name

    def teacher_options(self) -> TeacherOptions:
        """Teacher options with paths resolved against the config file.

        A ``model`` (local and vllm backends) is a folder relative to the config
        when one is there, else a hub id the teacher finds in the Hugging Face
        cache (:mod:`herdsman.io.model_refs`).
        """
        options = self.config.teacher
        update: dict[str, Any] = {}
        prices = getattr(options, "prices", None)
        if prices:
            update["prices"] = self.loaded.resolve(str(prices))
        model = options.model
        if model and options.backend in ("local", "vllm") and model not in EMBEDDED_MODELS:
            folder = self.loaded.resolve(model)
            if folder.exists() or is_path_like(model):  # else a hub id (model_refs)
                update["model"] = str(folder)
        if getattr(options, "batch_api", False) and not getattr(options, "batch_journal", None):
            update["batch_journal"] = self.run_dir / ".herdsman" / "batches.jsonl"
        return options.model_copy(update=update)

    def teacher(self, *, batch: bool = False) -> Teacher:
        """The teacher, built on first use (loading a local model takes a while).

        Args:
            batch: Every call is known up front (``respond``): the teacher may
                go through the OpenAI Batch API when ``teacher.batch_api``
                asks for it. Otherwise it calls the live endpoint of the same
                teacher (:meth:`TeacherOptions.live`), under the same call keys.
        """
        options = self.teacher_options()
        live = options.live()
        if batch and live != options:
            if self._batch_teacher is None:
                self._batch_teacher = self._build(options)
            return self._batch_teacher
        if self._teacher is None:
            self._teacher = self._build(live)
        return self._teacher

    @staticmethod
    def _build(options: TeacherOptions) -> Teacher:
        where = options.key_destination()
        if where:
            console.print(f"  teacher: {where}")
        return build_teacher(options)

    def store(self) -> RunStore:
        """The run store of this run folder."""
        if self._store is None:
            self._store = RunStore(
                self.run_dir / STORE,
                durability=self.config.store.durability,
            )
        return self._store

    def teacher_identity(self) -> dict[str, Any]:
        """What of the teacher decides its answers (part of generate/respond fingerprints).

        The same backend, model and endpoint that name its calls in the run
        store (:meth:`TeacherOptions.identity`): new weights in the same folder
        make the stages that used the teacher out of date.
        """
        if self._identity is None:
            self._identity = self.teacher_options().identity()
        return self._identity

    def release_teacher(self) -> None:
        """Close the teacher and hand its memory back; the next :meth:`teacher` builds it again.

        A vLLM engine reserves most of the GPU's memory for as long as it
        lives, and a local teacher holds its weights: training and evaluation
        need that memory, so the runner releases the teacher before every
        stage that does not call it.
        """
        if self._teacher is None and self._batch_teacher is None:
            return
        self._close_teachers()
        free_accelerator_memory()

    def _close_teachers(self) -> None:
        for teacher in (self._teacher, self._batch_teacher):
            if teacher is not None:
                teacher.close()
        self._teacher = self._batch_teacher = None

    def close(self) -> None:
        """Release the store and the teacher."""
        if self._store is not None:
            self._store.close()
        self._close_teachers()


def free_accelerator_memory() -> None:
    """Collect garbage and empty the CUDA cache (when torch is loaded and a GPU is there)."""
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


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
    #: Raises a one-line error for settings that cannot work, before any stage runs.
    check: Callable[[Context], object] = lambda ctx: None


SELECTED = "selected"
ABLATION = "ablation"


def training_dir(ctx: Context) -> Path:
    """The data the herd trains on: the selected subset, or the whole dataset without selection."""
    return ctx.path(SELECTED) if ctx.config.select.enabled else ctx.path(DATASET)


STUDENTS = "students"


def student_dir(ctx: Context, name: str) -> Path:
    """Where a student of the herd is saved."""
    return ctx.path(STUDENTS) / name


EVAL = "eval"
REPORT = "report.html"


def eval_path(ctx: Context, name: str) -> Path:
    """A file of the evaluation folder."""
    return ctx.path(EVAL) / name
