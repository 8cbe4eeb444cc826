"""The pipeline config: one YAML file that describes a whole herdsman run.

Every section is a pydantic model that forbids unknown keys, so a typo is an
error, not a silently ignored setting. Errors name the file, the line and the
key path (``run.yaml:14: generate.sampling.temperature: ...``). Relative
paths are resolved against the config file's folder; ``bundled:NAME`` names a
data file shipped in the package (the demo's seeds, topics and dump).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from herdsman.errors import HerdsmanError, InputError
from herdsman.io.bundled import bundled_file
from herdsman.io.yaml_lines import Loc, load_yaml_with_lines
from herdsman.records import SamplingParams
from herdsman.teachers.options import TeacherOptions, cli
from herdsman.teachers.registry import (
    BACKENDS,
    backend_names,
    options_model,
    parse_teacher,
    teacher_union,
)

#: The paper's system message for responses: concise answers.
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant. Answer the user's request accurately and concisely."
)
#: The answer-quality rules of the quality stage (each can be switched off).
QUALITY_RULES = ("empty", "truncated", "repetition", "echo", "refusal", "language")
#: The instruction filters of the generate stage (each can be switched off).
FILTER_NAMES = ("too_short", "too_long", "unsuitable", "program", "punctuation", "non_english")
#: The experiment trackers a student's training can report to: the pip package to install,
#: then the modules any one of which makes it available (transformers' own integrations).
TRACKERS: dict[str, tuple[str, ...]] = {
    "tensorboard": ("tensorboard", "tensorboard", "tensorboardX"),
    "wandb": ("wandb", "wandb"),
    "mlflow": ("mlflow", "mlflow"),
    "trackio": ("trackio", "trackio"),
}

BUNDLED_PREFIX = "bundled:"
ExportFormat = Literal["jsonl", "parquet", "hf"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("jsonl", "parquet", "hf")


class Section(BaseModel):
    """Base of every config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


def default_of(section: type[BaseModel], name: str) -> Any:
    """A section field's default, for code outside the config that needs the same value."""
    return section.model_fields[name].get_default(call_default_factory=True)


class DedupConfig(Section):
    """Self-Instruct's near-duplicate rule (``herdsman dedup``; generate checks online)."""

    threshold: float = Field(
        0.7, gt=0, le=1, description="Drop when ROUGE-L F to a kept instruction is above this"
    )
    method: Literal["auto", "exact", "lsh"] = Field(
        "auto",
        description="exact (the pairwise rule's decisions), lsh (MinHash candidates, exact "
        "check: for millions of records) or auto (exact up to 50,000 records)",
    )


class SeedSource(Section):
    """One seed file: where it is, its format, how often its seeds are drawn."""

    path: str
    format: Literal["auto", "self-instruct", "alpaca", "p3", "flan", "jsonl"] = "auto"
    weight: float = Field(1.0, gt=0, description="Relative chance of drawing its seeds as examples")
    limit: int | None = Field(None, ge=1, description="Use only the first N seeds")
    originals: bool = Field(True, description="Also answer its instructions as originals")
    skip_bad: bool = False


class TopicsConfig(Section):
    """Topics for topic-guided generation: a category dump to filter, or a ready list.

    The defaults are the paper's: fewer than 3 words, more than 10 subcategories,
    more than 50 pages (inclusive bounds on the raw cat_subcats / cat_pages).
    """

    dump: str | None = Field(None, json_schema_extra=cli(hidden=True))
    file: str | None = Field(None, json_schema_extra=cli(hidden=True))
    max_words: int = Field(2, ge=1, description="Keep titles of at most this many words")
    min_subcats: int = Field(
        11, ge=0, description="Keep categories with at least this many subcategories"
    )
    min_pages: int = Field(51, ge=0, description="Keep categories with at least this many pages")

    @model_validator(mode="after")
    def _one_source(self) -> TopicsConfig:
        if self.dump and self.file:
            raise ValueError("give either 'dump' or 'file', not both")
        return self


class GenerateConfig(Section):
    """Instruction generation: how many per strategy and how to ask."""

    strategies: dict[Literal["example", "topic"], int] = Field(
        default_factory=dict, json_schema_extra=cli(hidden=True)
    )
    sampling: SamplingParams = SamplingParams(temperature=0.7, top_p=0.95, max_tokens=1024)
    examples: int = Field(3, ge=1, le=20, description="Seed examples shown per prompt")
    per_call: int | None = Field(
        None, ge=1, le=100, description="Instructions asked per call (default 20; 10 for P3/FLAN)"
    )
    topics_per_prompt: int = Field(3, ge=1, le=20, description="Topics per topic-guided prompt")
    wave: int | None = Field(
        None,
        ge=1,
        description="Calls in flight per wave (default: the teacher's in-flight width, see "
        "docs/architecture.md)",
    )
    max_calls: int | None = Field(None, ge=1, description="Give up after this many calls")
    template: str | None = Field(None, description="YAML/JSON overriding the prompt templates")
    dedup_threshold: float = Field(
        default_of(DedupConfig, "threshold"),
        gt=0,
        le=1,
        description="Near-duplicate ROUGE-L threshold",
        json_schema_extra=cli(aliases=("--threshold",)),
    )
    dedup_method: Literal["auto", "exact", "lsh"] = Field(
        default_of(DedupConfig, "method"),
        description="The online near-duplicate check: exact (the pairwise rule's decisions), "
        "lsh (MinHash candidates, exact check: for millions of instructions) or auto (lsh "
        "beyond 50,000 instructions to keep)",
    )
    disable_filters: list[str] = Field(
        default_factory=list,
        description=f"Filters to switch off: {', '.join(FILTER_NAMES)}",
        json_schema_extra=cli(aliases=("--no-filter",)),
    )
    seed: int = Field(
        42,
        description="Seed for sampling examples and topics",
        json_schema_extra=cli(flag="--random-seed"),
    )
    expected_keep_rate: float = Field(
        0.3,
        gt=0,
        le=1,
        description="Dry-run estimate: share of asked-for items kept",
        json_schema_extra=cli(hidden=True),
    )

    @model_validator(mode="after")
    def _counts(self) -> GenerateConfig:
        for name, n in self.strategies.items():
            if n < 0:
                raise ValueError(f"strategies.{name}: must be >= 0")
        unknown = sorted(set(self.disable_filters) - set(FILTER_NAMES))
        if unknown:
            raise ValueError(
                f"disable_filters: unknown filter(s) {', '.join(unknown)} "
                f"(known: {', '.join(FILTER_NAMES)})"
            )
        return self


if TYPE_CHECKING:
    TeacherSection = TeacherOptions
else:
    #: The ``teacher:`` section: one backend's settings, told apart by ``backend``.
    TeacherSection = teacher_union()


class RespondConfig(Section):
    """How the teacher answers every instruction."""

    logprobs: int | None = Field(
        None,
        ge=1,
        le=100,
        description="Also keep the teacher's top-K token log-probabilities of every answer "
        "token, for students trained with objective: kd (openai servers allow at most 20)",
    )

    sampling: SamplingParams = SamplingParams(temperature=0.0, max_tokens=512)
    system_prompt: str = Field(
        DEFAULT_SYSTEM_PROMPT, description="System message (the paper's asks for concise answers)"
    )
    drop_truncated: bool = Field(False, description="Leave out answers cut by max_tokens")
    source: str = Field("custom", description="instruction_source for records that carry none")


class DecontaminateConfig(Section):
    """Dropping examples that overlap evaluation items."""

    enabled: bool = True
    n: int = Field(13, ge=1, description="Word n-gram length")
    min_words: int = Field(
        8, ge=1, description="Evaluation items shorter than n count if at least this long"
    )
    files: list[str] = Field(default_factory=list)
    builtin_suite: bool = True


class DatasetConfig(Section):
    """Assembly, split and export of the LaMini-format dataset."""

    name: str = "herdsman-lamini"
    held_out: float = Field(0.05, ge=0, lt=1, description="Share kept out of training")
    split_seed: int = 42
    formats: list[ExportFormat] = Field(default_factory=lambda: list(EXPORT_FORMATS))
    decontaminate: DecontaminateConfig = DecontaminateConfig()
    license: str | None = None
    push_to_hub: str | None = None
    hub_token_env: str = "HF_TOKEN"
    private: bool = True


class AnalyzeConfig(Section):
    """Diversity analysis of the dataset."""

    enabled: bool = True
    embed: bool = Field(True, description="Embed instructions and draw the t-SNE map")
    batch_size: int = Field(64, ge=1, description="Embedding batch")
    max_points: int | None = Field(None, ge=10, description="Sample this many for t-SNE")
    embed_sample: int = Field(
        10_000, ge=10, description="Embed (and map) a uniform sample of this many instructions"
    )
    perplexity: float = Field(30.0, gt=0, description="t-SNE perplexity")
    seed: int = 42


#: The scores the select stage can compute for each training pair.
SelectScore = Literal["quality", "ifd", "length"]
SELECT_SCORES: tuple[SelectScore, ...] = ("quality", "ifd", "length")


class AblationConfig(Section):
    """Train one student twice, changing one thing, and compare the two on the same items.

    ``compare: selection``: on the selected subset and on a random subset of the
    same size (needs a ``select`` section). ``compare: objective``: a student
    trained with ``kd`` (or ``gkd``) against its twin trained with ``sft`` from
    the same start, on the same data, for the same number of steps.
    """

    enabled: bool = False
    student: str | None = Field(None, description="Student to train twice (default: the first)")
    compare: Literal["selection", "objective"] = Field(
        "selection", description="selection: selected vs random data; objective: kd vs sft"
    )


class SelectConfig(Section):
    """Training-data selection between the dataset and the herd (``herdsman select``).

    Every pair of the train split gets the enabled scores; pairs below a floor
    are dropped; among the rest, greedy k-center over sentence embeddings keeps
    a diverse subset of the target size. The held-out split is never touched.
    """

    enabled: bool = False
    scores: list[SelectScore] = Field(default_factory=lambda: list(SELECT_SCORES))
    size: int | None = Field(None, ge=1, description="Pairs to keep")
    fraction: float | None = Field(None, gt=0, le=1, description="Share of pairs to keep")
    min_quality: float | None = Field(
        None, ge=1, le=4, description="Floor on the judge's expected grade points (A=4 .. D=1)"
    )
    max_ifd: float | None = Field(
        1.0,
        gt=0,
        description="Ceiling on IFD: at 1 or above the instruction does not help (0: no ceiling)",
    )
    min_words: int | None = Field(None, ge=0, description="Floor on response words")
    diversity: Literal["k-center", "none"] = "k-center"
    quotas: dict[str, float] = Field(
        default_factory=dict,
        description="instruction_source=share of the target",
        json_schema_extra=cli(aliases=("--quota",)),
    )
    scorer: str | None = Field(
        None, description="IFD scorer model (default: the first pretrained student's base)"
    )
    scorer_batch_size: int = Field(8, ge=1, description="Pairs per IFD scorer batch")
    scorer_max_length: int = Field(512, ge=16, description="Tokens per pair the scorer reads")
    judge_retries: int = Field(1, ge=0, le=5, description="Re-asks for a reply that is no grade")
    examples: int = Field(3, ge=0, le=20, description="Kept and dropped examples in the card")
    seed: int = 42
    ablation: AblationConfig = AblationConfig()

    @field_validator("max_ifd", mode="before")
    @classmethod
    def _zero_is_off(cls, value: Any) -> Any:
        return None if value in (0, "0") else value

    @model_validator(mode="after")
    def _target(self) -> SelectConfig:
        if self.enabled and (self.size is None) == (self.fraction is None):
            raise ValueError("size: give exactly one of 'size' and 'fraction'")
        if len(set(self.scores)) != len(self.scores):
            raise ValueError("scores: each score at most once")
        if self.min_quality is not None and "quality" not in self.scores:
            raise ValueError("min_quality needs 'quality' in scores")
        if self.min_words is not None and "length" not in self.scores:
            raise ValueError("min_words needs 'length' in scores")
        bad = {k: v for k, v in self.quotas.items() if not 0 < v <= 1}
        if bad:
            raise ValueError(f"quotas.{next(iter(bad))}: a share in (0, 1]")
        if sum(self.quotas.values()) > 1 + 1e-9:
            raise ValueError("quotas: the shares add up to more than 1")
        return self


class LoraConfig(Section):
    """LoRA settings (PEFT)."""

    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | str = "all-linear"


class StudentConfig(Section):
    """One student of the herd (defaults: the paper's published hyperparameters)."""

    name: str = Field(description="Student name (its folder under students/)")
    base: str = Field(
        description="Base model: folder, cached hub id, gemma-3-270m, smollm2-135m-instruct, "
        "t5-scratch"
    )
    architecture: Literal["auto", "causal", "seq2seq"] = "auto"
    method: Literal["full", "lora"] = "full"
    lora: LoraConfig = LoraConfig()
    wrapper: Literal["auto", "alpaca", "chat", "none"] = Field(
        "auto", description="Prompt wrapper of decoder-only students"
    )
    learning_rate: float = Field(5e-4, gt=0, json_schema_extra=cli(aliases=("--lr",)))
    epochs: float = Field(5.0, gt=0)
    batch_size: int = Field(512, ge=1, description="Effective batch (examples per step)")
    per_device_batch_size: int = Field(8, ge=1, description="Examples per device per step")
    max_length: int = Field(512, ge=8, description="Tokens per example")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many steps")
    save_steps: int | None = Field(
        None, ge=1, description="Checkpoint every N steps (default: 5 per run)"
    )
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    padding: Literal["packing", "group_by_length", "none"] = Field(
        "packing", description="How examples share a batch"
    )
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="auto: bf16 where the GPU supports it, fp16 on older GPUs, fp32 on CPU"
    )
    attention: Literal["auto", "sdpa", "flash_attention_2", "eager"] = Field(
        "auto", description="auto: FlashAttention-2 when installed, on a GPU, in half precision"
    )
    gradient_checkpointing: bool | None = Field(
        None, description="Recompute activations to save memory (default: on for decoder-only)"
    )
    seed: int = Field(42, description="Training seed")
    report_to: list[str] = Field(
        default_factory=list,
        description=f"Experiment trackers that log the run ({', '.join(TRACKERS)}; TensorBoard "
        "writes to the student's logs/ folder)",
    )

    @field_validator("report_to")
    @classmethod
    def _known_trackers(cls, value: list[str]) -> list[str]:
        """Refuse an unknown tracker or one whose package is missing, before any training."""
        import importlib.util

        for name in value:
            if name not in TRACKERS:
                raise ValueError(f"unknown tracker '{name}' (known: {', '.join(TRACKERS)})")
            package, *modules = TRACKERS[name]
            if not any(importlib.util.find_spec(m) for m in modules):
                raise ValueError(f"tracker '{name}' needs its package: pip install {package}")
        return list(dict.fromkeys(value))

    from_scratch: bool = Field(False, description="Initialise weights randomly from the config")
    objective: Literal["sft", "kd", "gkd"] = Field(
        "sft",
        description="sft: the teacher's text (the paper); kd: the teacher's stored top-k token "
        "probabilities (needs respond.logprobs and the teacher's tokenizer); gkd: on-policy "
        "distillation with the local teacher beside the student (TRL)",
    )
    init: Literal["base", "prune"] = Field(
        "base",
        description="base: start from the base model; prune: cut the base (the teacher) to "
        "keep_layers decoder layers, dropping those of least block influence",
    )
    keep_layers: int | None = Field(
        None, ge=1, description="Decoder layers a pruned student keeps (init: prune)"
    )
    calibration_samples: int = Field(
        32, ge=1, le=4096, description="Training pairs that rank the layers (init: prune)"
    )
    kd_alpha: float = Field(
        0.5, ge=0, le=1, description="Weight of the distillation loss; 1 - kd_alpha goes to "
        "cross-entropy on the teacher's tokens (kd)",
    )  # fmt: skip
    kd_temperature: float = Field(
        1.0, gt=0, le=20, description="Softens teacher and student distributions (kd, gkd)"
    )
    teacher_model: str | None = Field(
        None,
        description="The teacher model beside the student (gkd; default: the pipeline's local "
        "or vllm teacher)",
    )
    push_to_hub: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][\w.-]*/[\w.-]+$",
        description="Hub repository (owner/name) the trained student is pushed to, with its "
        "model card (needs hub: online and a token in dataset.hub_token_env, HF_TOKEN)",
    )

    @model_validator(mode="after")
    def _init_and_objective(self) -> StudentConfig:
        if self.init == "prune" and self.keep_layers is None:
            raise ValueError("keep_layers: required with init: prune")
        if self.init != "prune" and self.keep_layers is not None:
            raise ValueError("keep_layers: only with init: prune")
        if self.init == "prune" and (self.from_scratch or self.method == "lora"):
            raise ValueError("init: prune trains the cut model fully (not from_scratch, not lora)")
        return self


class JudgeConfig(Section):
    """The LLM judge (the pipeline's teacher) grading answers with the A-D rubric."""

    enabled: bool = True
    instructions: str | None = Field(
        None, description="JSONL of instructions to judge (default: the held-out split)"
    )
    max_items: int | None = Field(
        20, ge=1, description="Judge the first N items (none: all)",
        json_schema_extra=cli(aliases=("--limit",)),
    )  # fmt: skip
    pairwise: bool = Field(False, description="Also compare every pair of models, both orders")
    retries: int = Field(1, ge=0, le=5, description="Re-asks for a reply that is not a grade")
    controls: int = Field(
        20,
        ge=2,
        le=500,
        description="Items whose reference answer, and off-topic, truncated, shuffled and "
        "looping versions of it, the judge also grades: a judge that cannot tell them apart "
        "draws no verdict",
    )
    reference_guided: bool = Field(
        False,
        description="Show the judge the teacher's answer as a reference (MT-Bench's "
        "reference-guided grading); off: the rubric alone (the embedded judge separated "
        "degraded answers no better with the reference: benchmarks/bench_judge_controls.py)",
    )
    constrained: bool = Field(
        True, description="grade by the grade letters' probabilities where the teacher gives them"
    )


class EvaluationConfig(Section):
    """Benchmarks, imitation score, probes and judge for the herd."""

    enabled: bool = True
    tasks: list[str] = Field(
        default_factory=lambda: ["herdsman_offline"],
        description="lm-eval task or group names (herdsman_offline, herdsman_paper, any lm-eval "
        "task)",
    )
    limit: int | None = Field(None, ge=1, description="At most N items per benchmark task")
    bases: bool = Field(True, description="Also evaluate each student's base model")
    batch_size: int = Field(8, ge=1, description="Benchmark batch")
    imitation_items: int = Field(200, ge=1, description="Held-out items for the imitation score")
    max_new_tokens: int = Field(128, ge=1)
    probes: str | None = Field(None, description="Probe prompts file (default: bundled)")
    judge: JudgeConfig = JudgeConfig()


class QualityConfig(Section):
    """The answer-quality gate between respond and dataset (``herdsman quality``)."""

    enabled: bool = True
    disable: list[str] = Field(
        default_factory=list,
        description=f"Rules to switch off: {', '.join(QUALITY_RULES)}",
        json_schema_extra=cli(aliases=("--no-rule",)),
    )
    repetition: float = Field(0.7, gt=0, le=1, description="repeated share that fails an answer")
    ngram: int = Field(4, ge=2, le=20, description="words per n-gram for the repetition rule")
    echo: float = Field(0.9, gt=0, le=1, description="similarity to the instruction that fails")
    language_confidence: float = Field(0.8, ge=0, le=1)
    language_min_words: int = Field(4, ge=1)

    @model_validator(mode="after")
    def _known_rules(self) -> QualityConfig:
        unknown = sorted(set(self.disable) - set(QUALITY_RULES))
        if unknown:
            raise ValueError(
                f"disable: unknown rule '{unknown[0]}' (known: {', '.join(QUALITY_RULES)})"
            )
        return self


class StoreConfig(Section):
    """The run store of the run folder (``.herdsman/store.sqlite``)."""

    durability: Literal["normal", "full"] = Field(
        "normal",
        description="normal: finished calls survive a process crash (kill -9); full: also a "
        "power cut or OS crash (SQLite synchronous=FULL, slower commits)",
    )


class PipelineConfig(Section):
    """The whole pipeline (``herdsman init`` writes a commented example)."""

    run_dir: str = "run"
    seeds: list[SeedSource] = Field(min_length=1)
    topics: TopicsConfig | None = None
    generate: GenerateConfig = GenerateConfig()
    teacher: TeacherSection = Field(default_factory=lambda: parse_teacher({}))
    respond: RespondConfig = RespondConfig()
    quality: QualityConfig = QualityConfig()
    dataset: DatasetConfig = DatasetConfig()
    analyze: AnalyzeConfig = AnalyzeConfig()
    select: SelectConfig = SelectConfig()
    students: list[StudentConfig] = Field(default_factory=list)
    ablation: AblationConfig = AblationConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    store: StoreConfig = StoreConfig()
    hub: Literal["offline", "online"] = Field(
        "offline",
        description="offline: nothing is downloaded; online: hub ids download into the Hugging "
        "Face cache, lm-eval may load data, push_to_hub uploads (herdsman --hub wins over this)",
    )

    @model_validator(mode="after")
    def _topics_for_topic_strategy(self) -> PipelineConfig:
        if self.generate.strategies.get("topic") and self.topics is None:
            raise ValueError("generate.strategies.topic needs a 'topics' section (dump or file)")
        names = [s.name for s in self.students]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"students: duplicate name(s) {', '.join(dupes)}")
        for i, student in enumerate(self.students):
            if student.objective == "kd" and not self.respond.logprobs:
                raise ValueError(
                    f"students[{i}].objective: kd trains on the teacher's stored "
                    "log-probabilities: set respond.logprobs (e.g. 20)"
                )
        if self.select.ablation.enabled:  # the older spelling of the ablation section
            if self.ablation.enabled:
                raise ValueError(
                    "ablation: give it once, as the top-level 'ablation' section "
                    "(select.ablation is its older spelling)"
                )
            self.ablation = self.select.ablation.model_copy(update={"compare": "selection"})
            self.select.ablation = AblationConfig()  # moved, so a second validation is the same
        ablation = self.ablation
        if not ablation.enabled:
            return self
        if not names:
            raise ValueError("ablation needs a student to train")
        if ablation.student is not None and ablation.student not in names:
            raise ValueError(
                f"ablation.student: no student named '{ablation.student}' "
                f"(students: {', '.join(names)})"
            )
        chosen = next(s for s in self.students if s.name == (ablation.student or names[0]))
        if ablation.compare == "objective" and chosen.objective == "sft":
            raise ValueError(
                f"ablation.compare: objective compares kd or gkd with sft, and student "
                f"'{chosen.name}' already trains with sft"
            )
        return self


def _format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


#: Config fields that name input files, checked after validation: (location, must be a dir ok).
def _file_fields(config: PipelineConfig) -> list[tuple[Loc, str]]:
    fields: list[tuple[Loc, str]] = [
        (("seeds", i, "path"), s.path) for i, s in enumerate(config.seeds)
    ]
    if config.topics:
        for key in ("dump", "file"):
            value = getattr(config.topics, key)
            if value:
                fields.append((("topics", key), value))
    if config.generate.template:
        fields.append((("generate", "template"), config.generate.template))
    prices = getattr(config.teacher, "prices", None)
    if prices:
        fields.append((("teacher", "prices"), str(prices)))
    fields += [
        (("dataset", "decontaminate", "files", i), f)
        for i, f in enumerate(config.dataset.decontaminate.files)
    ]
    if config.evaluation.probes:
        fields.append((("evaluation", "probes"), config.evaluation.probes))
    if config.evaluation.judge.instructions:
        fields.append(
            (("evaluation", "judge", "instructions"), config.evaluation.judge.instructions)
        )
    return fields


def resolve_path(value: str, base: Path) -> Path:
    """A config path: ``bundled:NAME``, absolute, or relative to the config's folder."""
    if value.startswith(BUNDLED_PREFIX):
        return bundled_file(value[len(BUNDLED_PREFIX) :])
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


class LoadedConfig(BaseModel):
    """A validated config and where it came from (paths resolved against ``base``)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    config: PipelineConfig
    path: Path
    base: Path

    def resolve(self, value: str) -> Path:
        """Resolve a path from the config (see :func:`resolve_path`)."""
        return resolve_path(value, self.base)

    @property
    def run_dir(self) -> Path:
        """The run folder (relative to the config file unless absolute)."""
        return self.resolve(self.config.run_dir)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` merged in (mappings merged key by key, the rest replaced)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_config(
    data: Any, path: Path, line_of: Any = None, overrides: dict[str, Any] | None = None
) -> LoadedConfig:
    """Validate config data; ``line_of(loc)`` gives a key's line for error messages.

    Raises:
        InputError: Naming the file, line and key of the first problem.
    """
    where = (lambda loc: None) if line_of is None else line_of
    if not isinstance(data, dict):
        raise InputError(str(path), None, "a pipeline config must be a mapping of sections")
    if overrides:
        data = deep_merge(data, overrides)
    try:
        config = PipelineConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        backend = None
        if loc[:1] == ("teacher",) and len(loc) > 1 and loc[1] in BACKENDS:
            backend, loc = str(loc[1]), (loc[0], *loc[2:])  # drop the union's tag
        key = _format_loc(loc) or "config"
        if first["type"] == "extra_forbidden" and backend is not None and len(loc) == 2:
            known = ", ".join(n for n in options_model(backend).model_fields if n != "backend")
            message = f"{key}: not a setting of the {backend} teacher (its settings: {known})"
        elif first["type"] == "extra_forbidden":
            message = f"{key}: unknown key"
        elif first["type"] == "union_tag_invalid":
            message = f"{key}.backend: unknown backend (known: {backend_names()})"
            loc = (*loc, "backend")
        elif first["type"] == "missing":
            message = f"{key}: required key is missing"
        else:
            text = str(first["msg"]).removeprefix("Value error, ")
            head, sep, rest = text.partition(": ")
            if first["type"] == "value_error" and sep and head.isidentifier():
                loc, key, text = (*loc, head), f"{key}.{head}", rest  # a check naming its key
            message = f"{key}: {text}"
        more = len(exc.errors()) - 1
        if more:
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise InputError(str(path), where(loc), message) from None
    base = path.resolve().parent
    for loc, value in _file_fields(config):
        try:
            exists = resolve_path(value, base).exists()
        except HerdsmanError as exc:  # bundled:NAME outside the package's data folder
            raise InputError(str(path), where(loc), f"{_format_loc(loc)}: {exc}") from None
        if not exists:
            raise InputError(str(path), where(loc), f"{_format_loc(loc)}: file not found: {value}")
    return LoadedConfig(config=config, path=path, base=base)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> LoadedConfig:
    """Read and validate a pipeline config file.

    Args:
        path: The YAML file.
        overrides: Settings merged over the file's (the demo's ``run_dir``, ``--quick``).

    Raises:
        InputError: Unreadable file, YAML syntax error, unknown key, wrong
            type or missing file; the message names the line and the key.
    """
    path = Path(path)
    doc = load_yaml_with_lines(path)
    if doc.data is None:
        raise InputError(str(path), None, "the config is empty (herdsman init writes an example)")
    return parse_config(doc.data, path, doc.line_of, overrides)
