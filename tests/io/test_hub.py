"""The hub mode reaches the environment and the constants libraries read once at import."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from herdsman.errors import HerdsmanError
from herdsman.io.hub import HUB_ENV, describe_hub_error, hub_errors, push_token

PROBE = """
import json, os, sys
import datasets.config, huggingface_hub.constants  # imported first: constants read now
from herdsman.io.hub import apply_config_hub, hub_mode, set_hub_mode

def state():
    return {
        "env": [os.environ["HF_HUB_OFFLINE"], os.environ["HF_DATASETS_OFFLINE"]],
        "hub": huggingface_hub.constants.HF_HUB_OFFLINE,
        "hub_fn": huggingface_hub.constants.is_offline_mode(),
        "datasets": [datasets.config.HF_HUB_OFFLINE, datasets.config.HF_DATASETS_OFFLINE],
        "mode": hub_mode(),
    }

seen = {"start": state()}
set_hub_mode("online")
seen["online"] = state()
set_hub_mode("offline")
seen["offline"] = state()
seen["config"] = apply_config_hub("online")
seen["after_config"] = state()
print(json.dumps(seen))
"""


def probe(env: dict[str, str]) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if k != HUB_ENV}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        env={**clean, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **env},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return found


def test_the_mode_switches_environment_and_imported_constants_both_ways() -> None:
    seen = probe({})
    assert seen["start"] == {
        "env": ["1", "1"], "hub": True, "hub_fn": True, "datasets": [True, True], "mode": "offline"
    }  # fmt: skip
    assert seen["online"] == {
        "env": ["0", "0"], "hub": False, "hub_fn": False, "datasets": [False, False],
        "mode": "online",
    }  # fmt: skip
    assert seen["offline"] == seen["start"]
    # Without a command-line choice, the config's hub: takes effect.
    assert seen["config"] == "online" and seen["after_config"] == seen["online"]


def test_the_command_line_choice_wins_over_the_config() -> None:
    seen = probe({HUB_ENV: "offline"})
    assert seen["config"] == "offline" and seen["after_config"] == seen["offline"]


def test_pushing_needs_a_token_then_the_hub_online(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_TOKEN", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HerdsmanError, match=r"students\[0\]\.push_to_hub: .*\$MY_TOKEN"):
        push_token("students[0].push_to_hub", "MY_TOKEN")
    monkeypatch.setenv("MY_TOKEN", "hf_x")
    with pytest.raises(HerdsmanError, match=r"hub is offline .*hub: online"):
        push_token("students[0].push_to_hub", "MY_TOKEN")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert push_token("students[0].push_to_hub", "MY_TOKEN") == "hf_x"


def test_hub_errors_become_one_line_and_others_pass_through() -> None:
    from huggingface_hub.errors import OfflineModeIsEnabled

    offline = r"^pushing: the hub is offline \(set `hub: online`"
    with pytest.raises(HerdsmanError, match=offline), hub_errors("pushing"):
        raise OfflineModeIsEnabled("Cannot reach https://huggingface.co: offline mode")
    with pytest.raises(HerdsmanError, match=r"^pushing: cannot reach"), hub_errors("pushing"):
        raise ConnectionRefusedError(111, "Connection refused")
    with pytest.raises(KeyError), hub_errors("pushing"):
        raise KeyError("not the hub's")
    # Outside a talk with the hub, only huggingface_hub's own errors are the hub's.
    assert describe_hub_error(ConnectionRefusedError(111, "refused")) is None
