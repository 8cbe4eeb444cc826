"""The sentence embedder: ONNX Runtime against sentence-transformers on PyTorch, its cache, its fallback.

One graph is exported per test session into a temporary cache folder; the
tests that damage a cache work on a copy of it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from herdsman.dataset.embedder_onnx import FINGERPRINT_KEY, OnnxEmbedder
from herdsman.dataset.embeddings import (
    MAX_SEQ_LENGTH,
    TorchEmbedder,
    embed,
    embedding_model_path,
    load_embedder,
)
from herdsman.errors import HerdsmanError
from tests.conftest import require_data


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A cache folder holding the one export of the session (its time is printed)."""
    cache = tmp_path_factory.mktemp("herdsman-cache")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HERDSMAN_CACHE", str(cache))
        env.delenv("HERDSMAN_EMBEDDER", raising=False)
        started = time.perf_counter()
        embedder = load_embedder()
        print(f"\nONNX export and session: {time.perf_counter() - started:.1f} s")
    assert isinstance(embedder, OnnxEmbedder)
    yield cache


@pytest.fixture
def cached(onnx_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$HERDSMAN_CACHE`` pointing at the session's exported cache."""
    monkeypatch.setenv("HERDSMAN_CACHE", str(onnx_cache))
    monkeypatch.delenv("HERDSMAN_EMBEDDER", raising=False)
    return onnx_cache


@pytest.fixture(scope="session")
def torch_embedder() -> TorchEmbedder:
    return TorchEmbedder(embedding_model_path())


def graph_file(cache: Path) -> Path:
    (path,) = (cache / "embeddings").glob("*.onnx")
    return path


def nearest(vectors: np.ndarray) -> np.ndarray:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -2.0)
    return np.argmax(sims, axis=1)


def alpaca(n: int) -> list[str]:
    rows = json.loads(require_data("alpaca", "alpaca_5000.json").read_text())[:n]
    return [r["instruction"] + ("\n" + r["input"] if r.get("input") else "") for r in rows]


def test_onnx_vectors_agree_with_pytorch_on_real_instructions(
    cached: Path, torch_embedder: TorchEmbedder
) -> None:
    texts = alpaca(300)
    embedder = load_embedder()
    assert embedder.backend == "onnx"
    onnx_vectors = embed(embedder, texts, 32)
    torch_vectors = embed(torch_embedder, texts, 32)
    assert onnx_vectors.dtype == np.float32 and onnx_vectors.shape == (300, 384)
    assert np.allclose(np.linalg.norm(onnx_vectors, axis=1), 1.0, atol=1e-5)
    cosine = np.sum(onnx_vectors * torch_vectors, axis=1)
    assert cosine.min() >= 0.99999, (cosine.argmin(), cosine.min())
    assert np.array_equal(nearest(onnx_vectors), nearest(torch_vectors))


def test_tokenisation_is_sentence_transformers(cached: Path, torch_embedder: TorchEmbedder) -> None:
    texts = ["  padded   words\n", "", "word " * 400, "Ünïcödé café 漢字 🙂", "x"]
    embedder = load_embedder()
    assert isinstance(embedder, OnnxEmbedder)
    ours = embedder.tokenize(texts)
    theirs = torch_embedder.model.preprocess(texts)
    assert ours["input_ids"].shape == (5, MAX_SEQ_LENGTH)
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        assert np.array_equal(ours[name], theirs[name].numpy()), name


def test_input_order_kept_across_lengths_and_batches(
    cached: Path, torch_embedder: TorchEmbedder
) -> None:
    long = " ".join(alpaca(40))  # far beyond 128 word pieces: truncated
    texts = [
        "Name a colour.",
        "",
        long,
        "Hi",
        "Summarise the plot of Hamlet in one line.",
        long[:300],
    ]
    embedder = load_embedder()
    together = embed(embedder, texts, batch_size=2)  # batches mix rows from across the list
    alone = np.vstack([embed(embedder, [t]) for t in texts])
    reference = embed(torch_embedder, texts)
    assert together.shape == (6, 384)
    assert np.sum(together * alone, axis=1).min() >= 0.99999
    assert np.sum(together * reference, axis=1).min() >= 0.99999
    # Different texts really are different rows (order is observable).
    assert np.max(together[0] @ together[1:].T) < 0.9
    assert embed(embedder, []).shape == (0, 384)


def cut_in_half(data: bytes) -> int:
    return len(data) // 2


def cut_before_fingerprint(data: bytes) -> int:
    """Where the last field (the fingerprint metadata) starts: what is left is a valid graph."""
    start = data.rindex(FINGERPRINT_KEY.encode()) - 4  # field tag, entry length, key tag, length
    assert data[start] == 0x72  # field 14 (metadata_props), length-delimited
    return start


@pytest.mark.parametrize("cut", [cut_in_half, cut_before_fingerprint])
def test_cache_reused_and_damaged_file_exported_again(
    cut: Callable[[bytes], int], onnx_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(onnx_cache, tmp_path, dirs_exist_ok=True)
    monkeypatch.setenv("HERDSMAN_CACHE", str(tmp_path))
    monkeypatch.delenv("HERDSMAN_EMBEDDER", raising=False)
    path = graph_file(tmp_path)
    before = path.stat()
    texts = alpaca(20)
    good = embed(load_embedder(), texts)
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # no export

    with path.open("r+b") as handle:
        handle.truncate(cut(path.read_bytes()))
    again = load_embedder()
    assert isinstance(again, OnnxEmbedder) and again.fingerprint() in path.name
    rewritten = path.stat()
    assert rewritten.st_size == before.st_size and rewritten.st_ino != before.st_ino
    assert np.sum(embed(again, texts) * good, axis=1).min() >= 0.99999
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_env_torch_forces_pytorch_and_bad_values_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HERDSMAN_CACHE", str(tmp_path))
    monkeypatch.setenv("HERDSMAN_EMBEDDER", "torch")
    embedder = load_embedder()
    assert isinstance(embedder, TorchEmbedder) and embedder.backend == "torch"
    assert embed(embedder, ["Name a colour."]).shape == (1, 384)
    assert list(tmp_path.iterdir()) == []  # nothing exported
    monkeypatch.setenv("HERDSMAN_EMBEDDER", "tensorflow")
    with pytest.raises(HerdsmanError, match="HERDSMAN_EMBEDDER='tensorflow'"):
        load_embedder()


def test_failing_export_falls_back_with_one_warning(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    torch_embedder: TorchEmbedder,
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("HERDSMAN_CACHE", str(blocker))
    monkeypatch.delenv("HERDSMAN_EMBEDDER", raising=False)
    capfd.readouterr()
    embedder = load_embedder()
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning: ONNX Runtime embedder unavailable")
    assert "Traceback" not in err
    assert embedder.backend == "torch"
    texts = alpaca(30)
    vectors = embed(embedder, texts)
    assert np.sum(vectors * embed(torch_embedder, texts), axis=1).min() >= 0.99999
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert blocker.is_file()

    monkeypatch.setenv("HERDSMAN_EMBEDDER", "onnx")  # forced: an error, not a fallback
    with pytest.raises(HerdsmanError, match="embedder 'onnx' failed"):
        load_embedder()


def test_default_cache_folder_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from herdsman.embedded import cache_dir as cache_root

    monkeypatch.delenv("HERDSMAN_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_root() == tmp_path / "herdsman"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == Path(os.path.expanduser("~")) / ".cache" / "herdsman"
    monkeypatch.setenv("HERDSMAN_CACHE", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"
