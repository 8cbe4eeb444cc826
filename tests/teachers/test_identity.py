"""A call's key names where it goes: another server, or other weights, is another teacher."""

from __future__ import annotations

import json
from pathlib import Path

from herdsman.teachers.identity import endpoint_identity, folder_identity
from herdsman.testing.stub_server import StubServer
from tests.conftest import run_cli
from tests.helpers.tiny_models import tiny_causal


def test_spellings_of_one_endpoint_agree_and_others_differ() -> None:
    same = {
        endpoint_identity(u)
        for u in (
            "https://api.openai.com/v1", "https://API.openai.com/v1/", "https://api.openai.com:443/v1",
        )
    }  # fmt: skip
    assert same == {"https://api.openai.com/v1"}
    others = {
        endpoint_identity(u)
        for u in (
            "http://api.openai.com/v1", "https://api.openai.com/v2", "http://127.0.0.1:8000/v1",
            "http://127.0.0.1:8001/v1", "http://[::1]:8000/v1",
        )
    }  # fmt: skip
    assert len(others) == 5 and not others & same


def test_a_second_server_with_the_same_model_name_is_asked_again(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"instruction": f"Name {w}."}) + "\n" for w in "abc"))
    out = tmp_path / "out.jsonl"
    with StubServer() as first, StubServer() as second:
        second.state.echo_prefix = "second server: "
        for server in (first, second):
            result = run_cli(
                "respond", str(src), "-o", str(out), "--teacher", "openai", "--model", "gpt-4o",
                "--base-url", server.url,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
        assert first.state.requests == 3 and second.state.requests == 3  # every call again
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["response"] for r in rows] == [f"second server: Name {w}." for w in "abc"]


def test_a_local_folder_is_named_by_its_weights(tmp_path: Path) -> None:
    folder = tiny_causal(tmp_path / "model")
    before = folder_identity(folder)
    assert before == folder_identity(folder) and before.startswith(str(folder.resolve()) + "#")
    # Fine-tuned weights of the same shape, saved in the same folder: another teacher.
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)
    model.save_pretrained(folder)
    assert folder_identity(folder) != before
