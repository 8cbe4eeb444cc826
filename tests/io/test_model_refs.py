"""One rule for model references: a folder first, then the Hugging Face cache, then (online) the hub."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import constants

from herdsman.errors import HerdsmanError
from herdsman.io.model_refs import (
    BESIDE_CONFIG,
    IN_WORKING_DIR,
    is_hub_id,
    is_path_like,
    resolve_model_ref,
)
from tests.helpers.hub_cache import closed_port, empty_offline_hub, fake_hub_cache


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache of this test, offline."""
    return empty_offline_hub(tmp_path, monkeypatch)


def online(monkeypatch: pytest.MonkeyPatch) -> str:
    """Hub mode online, with the hub at a loopback port nothing listens on."""
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    return endpoint


def test_a_cached_hub_id_resolves_to_its_snapshot(hub: Path, tmp_path: Path) -> None:
    snapshot = fake_hub_cache(hub, "acme/tiny")
    ref = resolve_model_ref("acme/tiny", tmp_path / "config-folder")
    assert ref.path == snapshot and ref.hub_id == "acme/tiny" and ref.name == "acme/tiny"
    assert (ref.path / "config.json").is_file()


def test_a_folder_beside_the_base_wins_over_the_cache(hub: Path, tmp_path: Path) -> None:
    fake_hub_cache(hub, "acme/tiny")
    local = tmp_path / "acme" / "tiny"
    local.mkdir(parents=True)
    ref = resolve_model_ref("acme/tiny", tmp_path)
    assert ref.path == local.resolve() and ref.hub_id is None and ref.name == str(local.resolve())


def test_relative_absolute_and_dotted_folders(hub: Path, tmp_path: Path) -> None:
    (tmp_path / "models" / "x").mkdir(parents=True)
    assert resolve_model_ref("models/x", tmp_path).path == (tmp_path / "models" / "x").resolve()
    assert resolve_model_ref("./models/x", tmp_path).path == (tmp_path / "models" / "x").resolve()
    absolute = str(tmp_path / "models" / "x")
    assert resolve_model_ref(absolute, tmp_path / "elsewhere").path == Path(absolute).resolve()
    with pytest.raises(
        HerdsmanError, match=r"'\./models/y' is not a local folder .* does not exist"
    ):
        resolve_model_ref("./models/y", tmp_path)
    (tmp_path / "weights.bin").write_text("")
    with pytest.raises(HerdsmanError, match="is a file"):
        resolve_model_ref("weights.bin", tmp_path)


def test_an_id_found_nowhere_names_the_folder_and_the_cache(hub: Path, tmp_path: Path) -> None:
    with pytest.raises(HerdsmanError) as caught:
        resolve_model_ref("org/missing", tmp_path, where=BESIDE_CONFIG)
    assert str(caught.value) == (
        f"'org/missing' is not a local folder beside the config, not in the local Hugging Face "
        f"cache ({hub}), and hub: offline forbids downloading it"
    )
    with pytest.raises(HerdsmanError, match="in the working directory"):
        resolve_model_ref("org/missing", tmp_path, where=IN_WORKING_DIR)
    with pytest.raises(HerdsmanError, match="not a hub id"):
        resolve_model_ref("not an/id at all", tmp_path)


def test_online_without_network_is_one_message_for_check_and_download(
    hub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = online(monkeypatch)
    with pytest.raises(HerdsmanError) as looked_up:
        resolve_model_ref("org/missing", tmp_path, download=False)
    assert "looking it up on the hub failed: cannot reach" in str(looked_up.value)
    assert endpoint in str(looked_up.value)
    with pytest.raises(HerdsmanError) as downloaded:
        resolve_model_ref("org/missing", tmp_path)
    assert "downloading it failed: cannot reach" in str(downloaded.value)
    assert "\n" not in str(downloaded.value)


def test_online_a_complete_cached_snapshot_needs_no_network(
    hub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = fake_hub_cache(hub, "acme/tiny")
    online(monkeypatch)  # the endpoint refuses every connection: the cache must be enough
    assert resolve_model_ref("acme/tiny", tmp_path).path == snapshot


def test_what_is_a_path_and_what_is_a_hub_id() -> None:
    assert is_path_like("/models/x") and is_path_like("./x") and is_path_like("~/x")
    assert not is_path_like("owner/name") and not is_path_like("models/x")
    assert is_hub_id("Qwen/Qwen2.5-7B-Instruct") and is_hub_id("gpt2")
    assert not is_hub_id("./x") and not is_hub_id("a/b/c") and not is_hub_id("has space/x")
