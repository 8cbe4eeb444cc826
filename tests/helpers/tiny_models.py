"""Tiny randomly initialised models (real architectures, real tokenizer) for training tests."""

from __future__ import annotations

import json
from pathlib import Path

from herdsman.config import DatasetConfig
from herdsman.dataset.build import build_dataset
from herdsman.embedded import converted_folder
from tests.conftest import require_data


def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(converted_folder("smollm2-135m-instruct"))


def tiny_causal(folder: Path, seed: int = 0, initializer_range: float = 0.02) -> Path:
    """A 2-layer Llama (hidden 64) with SmolLM2's tokenizer and chat template.

    A larger ``initializer_range`` makes a random model's predictions depend
    strongly on context (at 0.02 they are nearly uniform whatever it sees).
    """
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
        initializer_range=initializer_range,
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


LM_EVAL_TASK = """\
task: herdsman_tiny_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {items}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: label
metric_list:
  - metric: acc
"""
ITEMS = [
    {"question": "Which animal barks?", "choices": ["a dog", "a fish", "a stone"], "label": 0},
    {
        "question": "What colour is the sky on a clear day?",
        "choices": ["green", "blue"],
        "label": 1,
    },
    {
        "question": "How many legs does a spider have?",
        "choices": ["six", "eight", "ten"],
        "label": 1,
    },
    {"question": "Which is a fruit?", "choices": ["carrot", "apple"], "label": 1},
]


def run_lm_eval(model_dir: Path, work: Path, seq2seq: bool = False):
    """``lm_eval --model hf`` on a student folder, offline, with a local-file task."""
    import os
    import subprocess
    import sys

    work.mkdir(parents=True, exist_ok=True)
    items = work / "items.jsonl"
    items.write_text("".join(json.dumps(i) + "\n" for i in ITEMS))
    (work / "tiny_mc.yaml").write_text(LM_EVAL_TASK.format(items=items))
    model_args = f"pretrained={model_dir}" + (",backend=seq2seq" if seq2seq else "")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run(
        [
            sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args", model_args,
            "--tasks", "herdsman_tiny_mc", "--include_path", str(work), "--device", "cpu",
            "--batch_size", "2", "--output_path", str(work / "results"),
        ],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
