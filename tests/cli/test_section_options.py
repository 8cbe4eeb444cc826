"""Each setting is defined once: a config section's fields are its command's options.

These tests read the real command line (the click commands typer builds) and
the real config sections, so a field added to a section and missing from its
command, or a command option whose default differs from the section's, fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
from pydantic import Field
from typer.testing import CliRunner

from herdsman.cli.app import app
from herdsman.cli.main import main as _main  # noqa: F401  (registers every command)
from herdsman.cli.section_options import SectionSpec, command_settings, with_section
from herdsman.cli.teacher_options import TeacherGroup
from herdsman.config import (
    AblationConfig,
    AnalyzeConfig,
    DedupConfig,
    EvaluationConfig,
    GenerateConfig,
    JudgeConfig,
    PipelineConfig,
    QualityConfig,
    RespondConfig,
    SelectConfig,
    StoreConfig,
    StudentConfig,
    TopicsConfig,
)
from herdsman.teachers.registry import options_models


def click_commands() -> dict[str, Any]:
    group = typer.main.get_command(app)
    return dict(group.commands)  # type: ignore[attr-defined]


def command_function(name: str):
    for info in app.registered_commands:
        fn = info.callback
        if (info.name or fn.__name__.replace("_", "-")) == name:
            return fn
    raise AssertionError(f"no command {name}")


def options_of(command: Any) -> dict[str, Any]:
    out = {}
    for param in command.params:
        for opt in [*param.opts, *param.secondary_opts]:
            out[opt] = param
    return out


#: command -> the sections it offers (the stage commands and their config sections).
EXPECTED = {
    "topics": [TopicsConfig],
    "generate": [GenerateConfig, StoreConfig],
    "dedup": [DedupConfig],
    "respond": [RespondConfig, StoreConfig],
    "quality": [QualityConfig],
    "analyze": [AnalyzeConfig],
    "select": [SelectConfig, StoreConfig],
    "train": [StudentConfig],
    "eval": [EvaluationConfig],
    "judge": [JudgeConfig, StoreConfig],
    "ablate": [AblationConfig],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_setting_of_a_section_is_an_option_of_its_command(name: str) -> None:
    specs = [s for s in command_settings(command_function(name)) if isinstance(s, SectionSpec)]
    assert [s.model for s in specs] == EXPECTED[name]
    opts = options_of(click_commands()[name])
    for spec in specs:
        for flag in spec.flags():
            assert flag.names[0] in opts, f"{name}: {'.'.join(flag.path)} has no {flag.names[0]}"
        # What is not offered is said in the section (hidden) or in the command's spec.
        offered = {f.path[0] for f in spec.flags()}
        for field, info in spec.model.model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            if field in offered or extra.get("cli", {}).get("hidden"):
                continue
            assert field in spec.exclude | set(spec.fixed), f"{name}: {field} silently missing"


def test_the_teacher_block_offers_every_backend_setting() -> None:
    opts = options_of(click_commands()["respond"])
    for backend, model in options_models().items():
        for flag in TeacherGroup().flags():
            if flag.path[0] in model.model_fields:
                assert flag.names[0] in opts, (backend, flag.names[0])


def test_every_pipeline_section_reaches_a_command() -> None:
    """Each section of the pipeline config that a stage command runs is offered somewhere."""
    covered = {m for models in EXPECTED.values() for m in models}
    runs_alone = {"generate", "respond", "quality", "analyze", "select", "topics", "store",
                  "students", "evaluation"}  # fmt: skip
    for name in runs_alone:
        annotation = PipelineConfig.model_fields[name].annotation
        types = [a for a in getattr(annotation, "__args__", (annotation,)) if a is not type(None)]
        inner = [getattr(t, "__args__", (t,))[0] for t in types]
        assert any(t in covered for t in types + inner), name


def test_a_new_field_reaches_config_and_command_with_no_other_edit() -> None:
    """For every section a command offers: a subclass with one more field gets one more option."""
    for name in sorted(EXPECTED):
        for spec in command_settings(command_function(name)):
            if not isinstance(spec, SectionSpec):
                continue

            class Grown(spec.model):  # type: ignore[misc,valid-type]
                probe_setting: int = Field(7, ge=1, description="a new knob")

            grown = SectionSpec(
                Grown, "settings", spec.exclude, spec.flatten, spec.nested, spec.fixed,
                spec.defaults,
            )  # fmt: skip
            needed = ["--size", "1"] if spec.model is SelectConfig else []
            code, out, got = run_probe(grown, [*needed, "--probe-setting", "9"])
            assert code == 0, (name, out)
            assert got.probe_setting == 9  # type: ignore[attr-defined]
            code, out, got = run_probe(grown, needed)
            assert code == 0 and got.probe_setting == 7  # type: ignore[attr-defined]
            code, out, _ = run_probe(grown, [*needed, "--probe-setting", "0"])
            assert code == 2 and "--probe-setting" in out


def run_probe(spec: SectionSpec, args: list[str]) -> tuple[int, str, object]:
    seen: list[object] = []
    probe = typer.Typer()

    @probe.command()
    @with_section(spec)
    def cmd(*, settings: object) -> None:
        seen.append(settings)

    result = CliRunner().invoke(probe, args)
    return result.exit_code, result.output, seen[-1] if seen else None


def test_a_nested_section_keeps_its_sections_defaults() -> None:
    """Setting --temperature on generate keeps generate's own top_p and max_tokens
    (not SamplingParams' generic defaults)."""
    spec = SectionSpec(GenerateConfig, "settings", flatten=frozenset({"sampling"}))
    code, _, got = run_probe(spec, ["--temperature", "0.2"])
    assert code == 0
    assert got.sampling.temperature == 0.2  # type: ignore[attr-defined]
    assert got.sampling.top_p == GenerateConfig().sampling.top_p == 0.95  # type: ignore[attr-defined]
    assert got.sampling.max_tokens == 1024  # type: ignore[attr-defined]


def test_values_lists_maps_none_and_switches() -> None:
    spec = SectionSpec(SelectConfig, "settings", exclude=frozenset({"ablation"}),
                       fixed={"enabled": True})  # fmt: skip
    code, out, got = run_probe(
        spec,
        ["--size", "5", "--scores", "ifd,length", "--quota", "alpaca=0.5", "--max-ifd", "none"],
    )
    assert code == 0, out
    assert got.scores == ["ifd", "length"] and got.quotas == {"alpaca": 0.5}  # type: ignore[attr-defined]
    assert got.max_ifd is None and got.size == 5  # type: ignore[attr-defined]
    code, out, _ = run_probe(spec, ["--size", "5", "--quota", "alpaca"])
    assert code == 2 and "expected KEY=VALUE" in out
    code, out, _ = run_probe(spec, ["--size", "5", "--fraction", "0.5"])
    assert code == 2 and "size" in out and "fraction" in out
    q = SectionSpec(QualityConfig, "settings", fixed={"enabled": True})
    code, out, got = run_probe(q, ["--no-rule", "echo", "--disable", "language"])
    assert code == 0, out
    assert sorted(got.disable) == ["echo", "language"]  # type: ignore[attr-defined]
    code, out, _ = run_probe(q, ["--no-rule", "bogus"])
    assert code == 2 and "--disable/--no-rule: unknown rule 'bogus'" in out


def test_the_teacher_block_refuses_another_backends_setting(tmp_path: Path) -> None:
    seen: list[object] = []
    probe = typer.Typer()

    @probe.command()
    @with_section(TeacherGroup())
    def cmd(*, teacher_options: object) -> None:
        seen.append(teacher_options)

    runner = CliRunner()
    result = runner.invoke(probe, ["--concurrency", "8"])
    assert (
        result.exit_code == 2
        and "--concurrency: not a setting of the local teacher" in result.output
    )
    result = runner.invoke(probe, ["--teacher", "openai"])
    assert result.exit_code == 2 and "--model: required with the openai backend" in result.output
    result = runner.invoke(probe, ["--teacher", "nope"])
    assert result.exit_code == 2 and "unknown backend 'nope'" in result.output
    result = runner.invoke(
        probe, ["--teacher", "vllm", "--engine-arg", "tensor_parallel_size=2", "--window", "64"]
    )
    assert result.exit_code == 0, result.output
    options = seen[-1]
    assert options.engine_args.tensor_parallel_size == 2 and options.in_flight() == 64  # type: ignore[attr-defined]


def test_config_names_the_key_for_cross_field_errors(tmp_path: Path) -> None:
    from herdsman.config import parse_config
    from herdsman.errors import InputError

    seeds = [{"path": "bundled:demo_seed_tasks.jsonl"}]
    with pytest.raises(InputError, match=r"teacher\.model: required with the openai backend"):
        parse_config({"seeds": seeds, "teacher": {"backend": "openai"}}, tmp_path / "c.yaml")
    with pytest.raises(InputError, match=r"teacher\.concurrency: not a setting of the local"):
        parse_config({"seeds": seeds, "teacher": {"concurrency": 4}}, tmp_path / "c.yaml")


def test_generate_wave_is_the_same_from_the_command_and_the_stage() -> None:
    """The in-flight width decides the wave whichever way generate is started."""
    from herdsman.pipeline.stages.generate import generate_settings
    from herdsman.teachers.registry import teacher_options

    cfg = GenerateConfig()
    local = teacher_options(batch_size=4, ray_address="local", ray_workers=3)
    assert generate_settings(cfg, 10, local).wave == 12
    served = teacher_options(backend="openai", model="m", concurrency=64)
    assert generate_settings(cfg, 10, served).wave == 64
    assert generate_settings(GenerateConfig(wave=5), 10, served).wave == 5


def test_each_default_is_written_once() -> None:
    """The library's defaults are the sections' (a changed section default reaches them)."""
    from herdsman.dataset.analyze import AnalyzeSettings
    from herdsman.dataset.quality import QualitySettings
    from herdsman.generation.dedup import THRESHOLD
    from herdsman.generation.generate import GenerateSettings
    from herdsman.generation.respond import RespondSettings
    from herdsman.generation.topics import TopicFilter

    assert THRESHOLD == DedupConfig().threshold == GenerateConfig().dedup_threshold
    assert GenerateSettings(n=1).sampling == GenerateConfig().sampling
    assert RespondSettings().sampling == RespondConfig().sampling
    assert QualitySettings().repetition == QualityConfig().repetition
    assert AnalyzeSettings().batch_size == AnalyzeConfig().batch_size
    assert TopicFilter().min_pages == TopicsConfig().min_pages


_ = Annotated  # typing helpers kept for readers of the probes above
