"""A config's teacher and students: hub ids from the Hugging Face cache, folders beside the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from herdsman.config import load_config
from herdsman.errors import InputError
from herdsman.pipeline.context import Context
from herdsman.pipeline.references import prepare_run
from herdsman.teachers.local import resolve_model_path
from herdsman.train.bases import resolve_base
from tests.helpers.hub_cache import empty_offline_hub, fake_hub_cache

CONFIG = """\
run_dir: run
seeds:
  - path: bundled:demo_seed_tasks.jsonl
    format: self-instruct
teacher:
  backend: {backend}
  model: {teacher}
students:
  - name: from-the-hub
    base: {base}
  - name: beside-the-config
    base: models/x
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A Hugging Face cache holding acme/tiny, and a config folder with models/x; the working
    directory is elsewhere."""
    snapshot = fake_hub_cache(empty_offline_hub(tmp_path, monkeypatch), "acme/tiny")
    monkeypatch.delenv("HERDSMAN_HUB", raising=False)
    (tmp_path / "project" / "models").mkdir(parents=True)
    (tmp_path / "project" / "models" / "x").symlink_to(snapshot, target_is_directory=True)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    return tmp_path / "project", snapshot


def write(
    folder: Path, backend: str = "local", teacher: str = "acme/tiny", base: str = "acme/tiny"
) -> Path:
    path = folder / "run.yaml"
    path.write_text(CONFIG.format(backend=backend, teacher=teacher, base=base))
    return path


def test_hub_ids_resolve_to_the_cache_and_folders_to_the_config(
    project: tuple[Path, Path],
) -> None:
    folder, snapshot = project
    loaded = prepare_run(load_config(write(folder)))
    hub_student, local_student = loaded.config.students
    assert hub_student.base == "acme/tiny"  # an id stays an id (call keys, model cards)
    assert local_student.base == str((folder / "models" / "x").resolve())
    assert resolve_base(hub_student.base).path == snapshot
    assert resolve_base(local_student.base).path == snapshot.resolve()
    options = Context(loaded=loaded, run_dir=loaded.run_dir).teacher_options()
    assert options.model == "acme/tiny"
    assert resolve_model_path(options.model) == (snapshot, "acme/tiny")


def test_a_vllm_teacher_gets_the_hub_id_itself(project: tuple[Path, Path]) -> None:
    folder, snapshot = project
    loaded = prepare_run(load_config(write(folder, backend="vllm")))
    teacher = Context(loaded=loaded, run_dir=loaded.run_dir).teacher_options().build()
    assert teacher.source == "acme/tiny" and teacher.path == snapshot  # type: ignore[attr-defined]
    by_folder = prepare_run(load_config(write(folder, backend="vllm", teacher="models/x")))
    teacher = Context(loaded=by_folder, run_dir=by_folder.run_dir).teacher_options().build()
    assert teacher.source == str((folder / "models" / "x").resolve())  # type: ignore[attr-defined]


def test_an_unknown_reference_names_the_file_and_the_key(project: tuple[Path, Path]) -> None:
    folder, _ = project
    with pytest.raises(InputError) as caught:
        prepare_run(load_config(write(folder, base="org/missing")))
    assert str(caught.value).startswith(
        f"{folder / 'run.yaml'}: students[0].base: 'org/missing' is not a local folder beside "
        "the config, not in the local Hugging Face cache"
    )
    with pytest.raises(InputError, match=r"teacher\.model: 'org/gone'"):
        prepare_run(load_config(write(folder, teacher="org/gone")))
