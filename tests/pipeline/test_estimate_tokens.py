"""The dry run's token counts and prices: a cached hub teacher's own tokenizer, the Batch API's discount."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from herdsman.config import load_config
from herdsman.pipeline.context import Context
from herdsman.pipeline.estimate import estimate, token_counter
from herdsman.teachers.openai_batch import BATCH_DISCOUNT
from herdsman.teachers.pricing import PriceTable
from tests.helpers.hub_cache import empty_offline_hub, fake_hub_cache

TEXT = "Explain photosynthesis to a ten-year-old, in three short sentences."


def project(tmp_path: Path, teacher: str) -> Path:
    (tmp_path / "in.jsonl").write_text(
        "".join(
            json.dumps({"instruction": f"Describe {w} in a sentence.", "output": "It is fine."})
            + "\n"
            for w in ("rain", "snow", "wind")
        )
    )
    config = tmp_path / "run.yaml"
    config.write_text(
        "seeds:\n  - path: in.jsonl\n    format: jsonl\n"
        "generate:\n  strategies: {example: 6}\n" + teacher
    )
    return config


def test_a_cached_hub_teacher_counts_with_its_own_tokenizer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = empty_offline_hub(tmp_path, monkeypatch)
    config = project(tmp_path, "teacher:\n  backend: local\n  model: acme/tiny-teacher\n")
    ctx = Context(load_config(config), tmp_path / "run")
    count, how = token_counter(ctx)
    assert how == "~4 characters per token"  # not cached: nothing is downloaded
    assert count(TEXT) == -(-len(TEXT) // 4)
    snapshot = fake_hub_cache(hub, "acme/tiny-teacher")
    count, how = token_counter(ctx)
    assert how == "acme/tiny-teacher (cached)"
    tokenizer = AutoTokenizer.from_pretrained(snapshot)
    real = len(tokenizer.encode(TEXT, add_special_tokens=False))
    assert count(TEXT) == real != -(-len(TEXT) // 4)
    assert estimate(ctx).tokenizer == "acme/tiny-teacher (cached)"


def test_the_batch_api_discounts_respond_only(tmp_path: Path) -> None:
    teacher = (
        "teacher:\n  backend: openai\n  model: gpt-4o-mini\n  base_url: http://127.0.0.1:9/v1\n"
    )
    live = estimate(Context(load_config(project(tmp_path, teacher)), tmp_path / "run"))
    batch = estimate(
        Context(load_config(project(tmp_path, teacher + "  batch_api: true\n")), tmp_path / "run")
    )
    stages = {s.stage: s for s in live.stages}
    assert {"generate (example)", "respond"} <= set(stages)
    prices = PriceTable()
    respond = stages["respond"]
    respond_usd = prices.cost("gpt-4o-mini", respond.prompt_tokens, respond.completion_expected)
    respond_max = prices.cost("gpt-4o-mini", respond.prompt_tokens, respond.completion_max)
    assert live.usd_expected and live.usd_max and respond_usd and respond_max
    assert live.usd_expected == pytest.approx(
        prices.cost("gpt-4o-mini", live.prompt_tokens, live.completion_expected)
    )
    # generate keeps the live endpoint and its price; respond's calls alone are discounted.
    saved = (1 - BATCH_DISCOUNT) * respond_usd
    assert batch.usd_expected == pytest.approx(live.usd_expected - saved)
    assert batch.usd_max == pytest.approx(live.usd_max - (1 - BATCH_DISCOUNT) * respond_max)
    assert batch.usd_expected > BATCH_DISCOUNT * live.usd_expected
