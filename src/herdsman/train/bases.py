"""Student bases: where a base model comes from and what architecture it has.

A base is an embedded alias, else a model reference
(:mod:`herdsman.io.model_refs`): a local Hugging Face folder, or a hub id from
the local Hugging Face cache (downloaded there only with ``hub: online``):

- ``gemma-3-270m``: Gemma-3-270M pretrained (decoder-only), from its GGUF package;
- ``smollm2-135m-instruct``: SmolLM2-135M-Instruct (decoder-only);
- ``t5-scratch``: a small T5 (encoder-decoder) initialised from random weights
  with SmolLM2's tokenizer, so the T5 path really trains on a CPU. Real
  T5/Flan-T5 checkpoints are used the same way, by path.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from herdsman.embedded import EMBEDDED_MODELS, cache_dir, converted_folder
from herdsman.errors import HerdsmanError
from herdsman.io.model_refs import IN_WORKING_DIR, has_weights, resolve_model_ref

Architecture = Literal["causal", "seq2seq"]
SCRATCH_T5 = "t5-scratch"
#: A T5 small enough to train on two CPU cores in minutes (about 19M parameters,
#: most of them the 49k-token embedding shared by encoder, decoder and head).
SCRATCH_T5_SHAPE: dict[str, Any] = {
    "d_model": 256,
    "d_ff": 1024,
    "d_kv": 32,
    "num_heads": 8,
    "num_layers": 4,
    "num_decoder_layers": 4,
    "feed_forward_proj": "gated-gelu",
    "tie_word_embeddings": True,
}
STUDENT_ALIASES = (*EMBEDDED_MODELS, SCRATCH_T5)


@dataclass(frozen=True)
class StudentBase:
    """A resolved base: its folder, architecture and a name for cards and tables."""

    path: Path
    architecture: Architecture
    name: str
    from_scratch: bool = False


def detect_architecture(folder: Path) -> Architecture:
    """``seq2seq`` for encoder-decoder configs (T5, BART...), ``causal`` otherwise.

    Raises:
        HerdsmanError: No readable ``config.json``.
    """
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise HerdsmanError(f"{folder}: not a Hugging Face model folder ({exc})") from None
    if not isinstance(config, dict):
        raise HerdsmanError(f"{folder / 'config.json'}: expected a JSON object (a model config)")
    if config.get("is_encoder_decoder"):
        return "seq2seq"
    return "causal"


def scratch_t5_folder(seed: int = 42) -> Path:
    """The randomly initialised small T5, built once into the cache."""
    target = cache_dir() / "models" / f"{SCRATCH_T5}-seed{seed}"
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    import torch
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    tokenizer = AutoTokenizer.from_pretrained(converted_folder("smollm2-135m-instruct"))
    tokenizer.pad_token = "<|endoftext|>"  # keep padding apart from the end-of-answer token
    config = T5Config(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **SCRATCH_T5_SHAPE,
    )
    config.decoder_start_token_id = tokenizer.pad_token_id
    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(config)
    return save_model_folder(model, tokenizer, target)


def save_model_folder(model: Any, tokenizer: Any, folder: Path) -> Path:
    """Save a model and its tokenizer into ``folder``, replaced whole through a temporary folder
    (an interrupted save never leaves half a model where a complete one is expected)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


#: Files of which a model folder needs one to load its tokenizer.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "spiece.model",
    "vocab.json",
    "vocab.txt",
)


def check_model_folder(path: Path) -> None:
    """Refuse a base folder that cannot load: no weights, or no tokenizer.

    Raises:
        HerdsmanError: Naming the folder and what it lacks.
    """
    if not has_weights(path):
        raise HerdsmanError(
            f"{path}: not a complete model folder: no weights (*.safetensors or *.bin)"
        )
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise HerdsmanError(
            f"{path}: not a complete model folder: no tokenizer (tokenizer.json or "
            "tokenizer_config.json)"
        )


def resolve_base(
    base: str,
    architecture: str = "auto",
    seed: int = 42,
    *,
    relative_to: Path | None = None,
    where: str = IN_WORKING_DIR,
) -> StudentBase:
    """Resolve a student's ``base`` to a local folder and its architecture.

    Args:
        base: An alias (:data:`STUDENT_ALIASES`), else a model reference
            (:mod:`herdsman.io.model_refs`): a folder, or a hub id from the Hugging
            Face cache (downloaded with ``hub: online``).
        architecture: ``auto`` (from the config) or a forced ``causal``/``seq2seq``.
        seed: Initialisation seed of the scratch T5.
        relative_to: The folder a relative ``base`` starts from (default: the working
            directory; the pipeline gives absolute folders).
        where: How ``relative_to`` is named in messages.

    Raises:
        HerdsmanError: The base is not a folder with a model, not cached (hub offline),
            cannot be downloaded, or its architecture contradicts the one asked for.
    """
    if base == SCRATCH_T5:
        resolved = StudentBase(scratch_t5_folder(seed), "seq2seq", SCRATCH_T5, from_scratch=True)
    elif base in EMBEDDED_MODELS:
        resolved = StudentBase(converted_folder(base), "causal", base)
    else:
        try:
            ref = resolve_model_ref(base, relative_to or Path.cwd(), where=where)
        except HerdsmanError as exc:
            raise HerdsmanError(
                f"base model {exc} (embedded aliases: {', '.join(STUDENT_ALIASES)})"
            ) from None
        assert ref.path is not None  # downloaded when not cached
        if not (ref.path / "config.json").is_file():
            raise HerdsmanError(f"{base}: not a Hugging Face model folder (no config.json)")
        check_model_folder(ref.path)
        resolved = StudentBase(ref.path, detect_architecture(ref.path), base)
    if architecture not in ("auto", resolved.architecture):
        raise HerdsmanError(
            f"{base}: the config says {resolved.architecture}, but architecture: {architecture} "
            "was asked for"
        )
    return resolved
