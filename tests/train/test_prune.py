"""init: prune: block influence, the cut model, its folder, the student trained from it, refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from herdsman.config import StudentConfig
from herdsman.embedded import converted_folder
from herdsman.errors import HerdsmanError
from herdsman.train.prune import (
    block_influence,
    choose_layers,
    decoder_layers,
    prune_model,
    save_pruned,
)
from herdsman.train.student import train_student
from tests.helpers.tiny_models import alpaca_dataset, tiny_t5
from tests.helpers.tiny_models import tokenizer as smol_tokenizer

PROMPTS = ["Give three tips for staying healthy.", "What is the capital of France? Explain."]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prune")


def deep_llama(folder: Path, layers: int = 6) -> Path:
    """A 6-layer Llama (hidden 64) whose layers differ visibly in how much they turn their input."""
    from transformers import LlamaConfig, LlamaForCausalLM

    if (folder / "config.json").is_file():
        return folder
    tok = smol_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        initializer_range=0.2,
    )
    torch.manual_seed(3)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # give the layers clearly different strengths
        for i, layer in enumerate(model.model.layers):
            layer.mlp.down_proj.weight.mul_(0.2 + 0.5 * ((i * 7) % layers))
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def _samples(tok: Any) -> list[list[int]]:
    return [tok(p)["input_ids"] for p in PROMPTS]


def _logits(model: Any, ids: Any) -> torch.Tensor:
    with torch.no_grad():
        return model(**ids, use_cache=False).logits


def test_keeping_every_layer_gives_the_teachers_logits() -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = converted_folder("smollm2-135m-instruct")
    tok = AutoTokenizer.from_pretrained(folder)
    ids = tok(PROMPTS[:1], return_tensors="pt")
    teacher = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    want = _logits(teacher, ids)
    result = prune_model(teacher, _samples(tok), 30, "smollm2-135m-instruct")
    assert result.kept_layers == list(range(30)) and len(result.influence) == 30
    assert all(0.0 <= v <= 2.0 for v in result.influence)
    assert torch.allclose(_logits(teacher, ids), want, atol=1e-5)


def test_pruning_drops_the_lowest_influence_layers(work: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = deep_llama(work / "deep")
    tok = AutoTokenizer.from_pretrained(folder)
    ids = tok(PROMPTS, return_tensors="pt", padding=True)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    influence = block_influence(model, _samples(tok))
    assert len(set(influence)) == 6
    lowest = sorted(range(6), key=lambda i: influence[i])[:3]

    # Influence by hand: 1 - mean cosine between a layer's input and output hidden states.
    with torch.no_grad():
        hidden = model(**tok(PROMPTS[:1], return_tensors="pt"), output_hidden_states=True)
    states = hidden.hidden_states  # [embeddings, after layer 0, ..., after the final norm]
    by_hand = 1 - torch.nn.functional.cosine_similarity(states[0][0], states[1][0], dim=-1).mean()
    one_sample = block_influence(model, _samples(tok)[:1])
    assert one_sample[0] == pytest.approx(float(by_hand), abs=1e-5)

    # The cut model computes what the full one computes with the dropped layers skipped.
    reference = AutoModelForCausalLM.from_pretrained(folder).eval()
    for i in lowest:
        reference.model.layers[i].forward = lambda hidden_states, *a, **kw: hidden_states
    want = _logits(reference, ids)
    result = prune_model(model, _samples(tok), 3, str(folder))
    assert result.kept_layers == sorted(set(range(6)) - set(lowest))
    assert result.influence == pytest.approx(influence)
    assert torch.allclose(_logits(model, ids), want, atol=1e-5)
    assert [layer.self_attn.layer_idx for layer in model.model.layers] == [0, 1, 2]

    out = save_pruned(model, tok, work / "cut")
    loaded = AutoModelForCausalLM.from_pretrained(out).eval()
    assert loaded.config.num_hidden_layers == 3 and len(loaded.model.layers) == 3
    assert result.parameters == sum(p.numel() for p in loaded.parameters())
    assert torch.allclose(_logits(loaded, ids), want, atol=1e-5)
    prompt = tok(PROMPTS[:1], return_tensors="pt")
    with torch.no_grad():  # generation with the KV cache indexed by the new layer numbers
        cached = loaded.generate(**prompt, max_new_tokens=6, do_sample=False)
        uncached = loaded.generate(**prompt, max_new_tokens=6, do_sample=False, use_cache=False)
    assert (
        cached.tolist() == uncached.tolist() and cached.shape[1] == prompt["input_ids"].shape[1] + 6
    )


def test_refusals(work: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    t5 = AutoModelForSeq2SeqLM.from_pretrained(tiny_t5(work / "t5"))
    with pytest.raises(HerdsmanError) as caught:
        decoder_layers(t5)
    assert "T5ForConditionalGeneration" in str(caught.value) and "\n" not in str(caught.value)

    model = AutoModelForCausalLM.from_pretrained(deep_llama(work / "deep"))
    for keep in (7, 0):
        with pytest.raises(HerdsmanError) as caught:
            prune_model(model, [[1, 2, 3]], keep, "deep")
        message = str(caught.value)
        assert f"keep_layers {keep}" in message and "6 decoder layers" in message
        assert "\n" not in message
    assert choose_layers([0.1, 0.3, 0.2], 2) == [1, 2]


def test_pruned_student_trains_from_its_saved_start(work: Path) -> None:
    from transformers import AutoModelForCausalLM

    from herdsman.evaluate.models import collect_models

    base = deep_llama(work / "deep")
    dataset = alpaca_dataset(work / "dataset", n=24)
    out = work / "students" / "cut"
    cfg = StudentConfig(
        name="cut", base=str(base), init="prune", keep_layers=4, calibration_samples=4,
        batch_size=4, per_device_batch_size=4, max_length=128, max_steps=2,
    )  # fmt: skip
    outcome = train_student(cfg, dataset, out)
    init = out / "init"
    assert AutoModelForCausalLM.from_pretrained(init).config.num_hidden_layers == 4
    record = json.loads((out / "herdsman-train.json").read_text())
    assert record["init"]["kind"] == "prune" and record["init"]["from"] == str(base)
    assert len(record["init"]["kept_layers"]) == 4 and len(record["init"]["influence"]) == 6
    assert record["base"] == str(init.resolve()) and outcome.objective == "sft"
    trained = AutoModelForCausalLM.from_pretrained(out)
    assert trained.config.num_hidden_layers == 4
    assert record["init"]["parameters"] == record["parameters"]
    card = (out / "README.md").read_text()
    assert "4 of 6 decoder layers" in card
    assert ", ".join(map(str, record["init"]["kept_layers"])) in card
    models = collect_models([out])
    assert [m.role for m in models] == ["student", "base"]
    assert models[1].path.resolve() == init.resolve()

    t5_cfg = cfg.model_copy(update={"base": str(tiny_t5(work / "t5"))})
    with pytest.raises(HerdsmanError) as caught:
        train_student(t5_cfg, dataset, work / "students" / "t5-cut")
    assert "T5ForConditionalGeneration" in str(caught.value)
