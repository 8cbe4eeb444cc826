"""``herdsman run``: stages in order, skipped when up to date, redone when an input changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import datasets
import pandas as pd
import pytest

from herdsman.config import load_config
from herdsman.errors import HerdsmanError
from herdsman.pipeline.runner import run_pipeline
from herdsman.testing.stub_server import StubServer
from tests.conftest import assert_one_line_error, require_data, run_cli

CONFIG = """\
run_dir: run
seeds:
  - path: seeds.jsonl
    format: self-instruct
    limit: 20
topics:
  file: topics.txt
generate:
  strategies: {{example: 12, topic: 6}}
  wave: 2
teacher:
  backend: openai
  model: stub
  base_url: {url}
  max_retries: 0
  concurrency: 8
respond:
  sampling: {{max_tokens: 64}}
quality:
  disable: [echo]  # the stub answers by echoing the prompt
dataset:
  held_out: 0.2
  decontaminate:
    files: [eval.jsonl]
analyze:
  enabled: {analyze}
"""


def make_project(tmp_path: Path, url: str, analyze: bool = False) -> Path:
    """A config with its own copy of the real Self-Instruct seeds, topics and an eval file."""
    seeds = tmp_path / "seeds.jsonl"
    shutil.copy(require_data("self_instruct", "seed_tasks.jsonl"), seeds)
    (tmp_path / "topics.txt").write_text("Astronomy\nCooking\nRailways\nChess\n")
    first = json.loads(seeds.read_text().splitlines()[0])
    # An evaluation item that copies the first seed instruction: it must be dropped.
    (tmp_path / "eval.jsonl").write_text(
        json.dumps({"question": "Q: " + first["instruction"], "label": "a"}) + "\n"
    )
    config = tmp_path / "run.yaml"
    config.write_text(CONFIG.format(url=url, analyze=str(analyze).lower()))
    return config


def statuses(result) -> dict[str, str]:
    return {o.name: o.status for o in result.outcomes}


def test_full_run_exports_a_loadable_dataset_then_skips_everything(
    stub: StubServer, tmp_path: Path
) -> None:
    config = make_project(tmp_path, stub.url, analyze=True)
    result = run_pipeline(load_config(config))
    assert set(statuses(result).values()) == {"ran", "disabled"}
    assert statuses(result)["train"] == "disabled"  # no students in this config
    run = tmp_path / "run"
    summary = result.outcome("generate").summary
    assert summary["example"]["kept"] == 12 and summary["topic"]["kept"] == 6

    dataset = run / "dataset"
    stats = json.loads((dataset / "stats.json").read_text())
    # 20 originals + 18 generated answered; one original overlaps the eval item.
    assert stats["rows_in"] == 38
    assert stats["dropped"]["contaminated"] == {"self_instruct_without_topic": 1}
    assert stats["kept"] == 37 and stats["splits"] == {"train": 30, "held_out": 7}
    hf = datasets.load_from_disk(str(dataset / "hf"))
    assert set(hf) == {"train", "held_out"}
    assert hf["train"].num_rows == 30 and hf["held_out"].num_rows == 7
    frame = pd.read_parquet(dataset / "train.parquet")
    assert list(frame.columns[:3]) == ["instruction", "response", "instruction_source"]
    assert len(frame) == 30
    assert set(frame["instruction_source"]) == {
        "self_instruct_without_topic",
        "self_instruct_with_topic",
    }
    held = {json.loads(line)["instruction"] for line in (dataset / "held_out.jsonl").open()}
    assert not held & set(frame["instruction"])  # no row in both splits
    card = (dataset / "README.md").read_text()
    assert "| **all** | 30 | 7 | 37 |" in card
    assert "13-word n-gram overlap" in card and "self_instruct_without_topic: 1" in card
    assert "Apache-2.0" in card
    removed = [json.loads(line) for line in (dataset / "removed.jsonl").open()]
    assert len(removed) == 1 and removed[0]["matched"] == "eval.jsonl:1"
    analysis = json.loads((run / "analysis" / "analysis.json").read_text())
    assert analysis["rows"] == 37 and analysis["tsne_points"] == 37
    assert (run / "analysis" / "diversity_tsne.png").stat().st_size > 10_000

    calls = stub.state.requests
    again = run_pipeline(load_config(config))
    assert set(statuses(again).values()) == {"up to date", "disabled"}
    assert stub.state.requests == calls


def test_changed_input_reruns_downstream_stages_only(stub: StubServer, tmp_path: Path) -> None:
    config = make_project(tmp_path, stub.url)
    run_pipeline(load_config(config))
    calls = stub.state.requests

    # A new setting for respond: generation stays, answers are redone.
    config.write_text(config.read_text().replace("max_tokens: 64", "max_tokens: 65"))
    result = run_pipeline(load_config(config))
    assert statuses(result) == {
        "seeds": "up to date",
        "topics": "up to date",
        "generate": "up to date",
        "respond": "ran",
        "quality": "ran",
        "dataset": "ran",
        "analyze": "disabled",
        "select": "disabled",
        "train": "disabled",
        "evaluate": "disabled",
        "ablate": "disabled",
        "judge": "disabled",
        "report": "ran",
    }
    assert stub.state.requests == calls + 38  # every answer again, no generation call

    # An edited seed file: everything from seeds on is redone, with the new text.
    seeds = tmp_path / "seeds.jsonl"
    lines = seeds.read_text().splitlines()
    row = json.loads(lines[1])
    row["instruction"] = "Name three rivers that flow through more than four countries."
    lines[1] = json.dumps(row)
    seeds.write_text("\n".join(lines) + "\n")
    result = run_pipeline(load_config(config))
    assert statuses(result)["seeds"] == "ran" and statuses(result)["respond"] == "ran"
    train = (tmp_path / "run" / "dataset" / "train.jsonl").read_text()
    held = (tmp_path / "run" / "dataset" / "held_out.jsonl").read_text()
    assert "more than four countries" in train + held


def test_one_stage_needs_its_inputs(stub: StubServer, tmp_path: Path) -> None:
    config = make_project(tmp_path, stub.url)
    with pytest.raises(HerdsmanError, match="run stage 'quality' first"):
        run_pipeline(load_config(config), ["dataset"])
    result = run_pipeline(load_config(config), ["seeds"])
    assert statuses(result) == {"seeds": "ran"}
    assert not (tmp_path / "run" / "responses.jsonl").exists()
    with pytest.raises(HerdsmanError, match="unknown stage 'respnd'"):
        run_pipeline(load_config(config), ["respnd"])


def test_dry_run_makes_no_call_and_writes_nothing(stub: StubServer, tmp_path: Path) -> None:
    config = make_project(tmp_path, stub.url)
    prices = tmp_path / "prices.yaml"
    prices.write_text("stub: {input: 1.0, output: 2.0}\n")
    config.write_text(config.read_text().replace("  concurrency: 8", "  prices: prices.yaml"))
    result = run_cli("run", str(config), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert stub.state.requests == 0
    assert not (tmp_path / "run").exists()
    out = result.stderr
    assert "generate (example)" in out and "generate (topic)" in out and "respond" in out
    assert "estimated cost: $" in out and "nothing was called" in out
    # 20 originals + 12 + 6 generated answers are planned.
    assert "20 originals + 18 generated" in " ".join(out.split())


def test_dry_run_after_a_run_plans_nothing(stub: StubServer, tmp_path: Path) -> None:
    config = make_project(tmp_path, stub.url)
    run_pipeline(load_config(config))
    calls = stub.state.requests
    result = run_cli("run", str(config), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert stub.state.requests == calls
    assert "will run" not in result.stderr and "up to date" in result.stderr


def test_failed_answers_exit_3_and_the_rerun_finishes(tmp_path: Path) -> None:
    with StubServer() as stub:
        config = make_project(tmp_path, stub.url)
        seeds = tmp_path / "seeds.jsonl"
        lines = seeds.read_text().splitlines()
        row = json.loads(lines[2])
        row["instruction"] += " [[500:1]]"
        lines[2] = json.dumps(row)
        seeds.write_text("\n".join(lines) + "\n")
        first = run_cli("run", str(config))
        assert first.returncode == 3, first.stderr
        assert "1 of 38 instructions got no answer" in first.stderr
        assert not (tmp_path / "run" / "dataset").exists()
        manifest = json.loads((tmp_path / "run" / ".herdsman" / "stages.json").read_text())
        assert "respond" not in manifest and "generate" in manifest
        second = run_cli("run", str(config))
        assert second.returncode == 0, second.stderr
        assert "generate: up to date" in second.stderr
        assert (tmp_path / "run" / "dataset" / "hf").is_dir()


def test_push_to_hub_without_token_is_refused(stub: StubServer, tmp_path: Path) -> None:
    config = make_project(tmp_path, stub.url)
    config.write_text(
        config.read_text().replace(
            "dataset:\n", "dataset:\n  push_to_hub: me/data\n  hub_token_env: NO_SUCH_TOKEN_VAR\n"
        )
    )
    result = run_cli("run", str(config))
    assert_one_line_error(result, "push_to_hub", "NO_SUCH_TOKEN_VAR")


def test_a_second_run_on_the_same_folder_is_refused(stub: StubServer, tmp_path: Path) -> None:
    from herdsman.io.run_lock import run_lock
    from herdsman.pipeline.context import STORE

    loaded = load_config(make_project(tmp_path, stub.url))
    with run_lock(loaded.run_dir / STORE):  # another run holds the folder
        with pytest.raises(HerdsmanError, match=r"is in use by pid \d+"):
            run_pipeline(loaded, ["seeds"])
        assert not (loaded.run_dir / "seeds.jsonl").exists()
    assert run_pipeline(loaded, ["seeds"]).outcome("seeds").status == "ran"  # type: ignore[union-attr]


def test_store_durability_reaches_the_store(stub: StubServer, tmp_path: Path) -> None:
    from herdsman.pipeline.context import Context

    config = make_project(tmp_path, stub.url)
    config.write_text(config.read_text() + "store:\n  durability: full\n")
    loaded = load_config(config)
    ctx = Context(loaded=loaded, run_dir=loaded.run_dir)
    store = ctx.store()
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    ctx.close()
    config.write_text(config.read_text().replace("durability: full", "durability: often"))
    assert_one_line_error(run_cli("run", str(config), "--dry-run"), "store.durability")


def test_a_teacher_retrained_in_the_same_folder_makes_its_stages_out_of_date(
    tmp_path: Path,
) -> None:
    """One teacher identity for call keys and stage fingerprints: new weights, same folder."""
    from herdsman.config import load_config
    from herdsman.pipeline.context import Context
    from herdsman.pipeline.stages import generate, respond
    from herdsman.teachers.factory import build_teacher
    from tests.helpers.tiny_models import tiny_causal

    folder = tiny_causal(tmp_path / "teacher", seed=0)
    config = tmp_path / "run.yaml"
    config.write_text(
        "seeds:\n  - path: bundled:demo_seed_tasks.jsonl\n"
        "generate:\n  strategies: {example: 4}\n"
        "teacher:\n  backend: local\n  model: ./teacher\n"
    )

    def fingerprints() -> tuple[object, object, str]:
        ctx = Context(load_config(config), tmp_path / "run")
        teacher = build_teacher(ctx.teacher_options())
        key_endpoint = teacher.endpoint
        teacher.close()
        return generate.STAGE.settings(ctx), respond.STAGE.settings(ctx), key_endpoint

    gen_before, resp_before, endpoint_before = fingerprints()
    assert gen_before == fingerprints()[0]  # stable while nothing changes
    for item in folder.iterdir():
        if item.suffix == ".safetensors":
            item.unlink()
    (folder / "config.json").unlink()
    tiny_causal(folder, seed=1)  # retrained: same folder, same shapes, new weights
    gen_after, resp_after, endpoint_after = fingerprints()
    assert gen_after != gen_before and resp_after != resp_before
    # The call keys' endpoint changes with it: the store will not replay the old answers.
    assert endpoint_after != endpoint_before
    assert gen_after["teacher"]["endpoint"] == endpoint_after  # type: ignore[index]


def test_kept_logprobs_go_beside_the_dataset_and_into_the_dry_run(
    stub: StubServer, tmp_path: Path
) -> None:
    """respond.logprobs: every dataset row's teacher log-probabilities, in row order, with
    the tokenizer named in meta.json and the card; the dry run counts their bytes."""
    from herdsman.embedded import converted_folder
    from herdsman.io.logprobs import LogprobsMeta, iter_logprobs
    from tests.conftest import run_cli

    config = make_project(tmp_path, stub.url)
    tokenizer = str(converted_folder("smollm2-135m-instruct"))
    text = config.read_text().replace("respond:\n", "respond:\n  logprobs: 3\n", 1)
    text = text.replace("teacher:\n", f"teacher:\n  tokenizer: {tokenizer}\n", 1)
    config.write_text(text)
    planned = run_cli("run", str(config), "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert "teacher log-probabilities to store" in planned.stdout + planned.stderr
    run_pipeline(
        load_config(config), ["seeds", "topics", "generate", "respond", "quality", "dataset"]
    )
    dataset = tmp_path / "run" / "dataset"
    for split in ("train", "held_out"):
        rows = [json.loads(line) for line in (dataset / f"{split}.jsonl").open()]
        stored = list(iter_logprobs(dataset / "logprobs" / f"{split}.parquet"))
        assert [k for k, _ in stored] == [r["call_key"] for r in rows]
    meta = LogprobsMeta.read(dataset / "logprobs")
    assert meta.k == 3 and meta.tokenizer == tokenizer
    assert "top-3 token log-probabilities" in (dataset / "README.md").read_text()
