"""Tiny randomly initialised models (real architectures, real tokenizer) for training tests."""

from __future__ import annotations

import json
from pathlib import Path

from herdsman.config import DatasetConfig
from herdsman.dataset import build_dataset
from herdsman.embedded import converted_folder
from tests.conftest import require_data


def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(converted_folder("smollm2-135m-instruct"))


def tiny_causal(folder: Path, seed: int = 0) -> Path:
    """A 2-layer Llama (hidden 64) with SmolLM2's tokenizer and chat template."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    if (folder / "config.json").is_file():
        return folder
    tok = tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def tiny_t5(folder: Path, seed: int = 0) -> Path:
    """A 2+2-layer T5 (d_model 64) with SmolLM2's tokenizer."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    if (folder / "config.json").is_file():
        return folder
    tok = tokenizer()
    tok.pad_token = "<|endoftext|>"
    config = T5Config(
        vocab_size=len(tok),
        d_model=64,
        d_ff=128,
        d_kv=16,
        num_heads=4,
        num_layers=2,
        num_decoder_layers=2,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        decoder_start_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    T5ForConditionalGeneration(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def alpaca_dataset(folder: Path, n: int = 64, held_out: float = 0.125) -> Path:
    """A herdsman dataset folder made of real Alpaca instructions and outputs."""
    if (folder / "train.jsonl").is_file():
        return folder
    rows = json.loads(require_data("alpaca", "alpaca_5000.json").read_text())[:n]
    src = folder.with_suffix(".jsonl")
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text(
        "".join(
            json.dumps(
                {
                    "instruction": r["instruction"] + ("\n\n" + r["input"] if r["input"] else ""),
                    "response": r["output"],
                    "instruction_source": "alpaca",
                }
            )
            + "\n"
            for r in rows
        )
    )
    build_dataset(src, folder, DatasetConfig(held_out=held_out, formats=["jsonl"]), [])
    return folder
