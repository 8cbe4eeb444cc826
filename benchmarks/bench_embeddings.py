"""Sentence embeddings on CPU: the PyTorch path against ONNX Runtime (fp32 and int8).

The embedder (all-MiniLM-L6-v2, the one ``analyze``, ``select``'s k-center
and the imitation score use) encodes the same real instructions three ways:

- baseline: sentence-transformers on PyTorch, as herdsman runs it;
- ONNX Runtime, fp32: herdsman's own CPU embedder
  (``herdsman.dataset.embedder_onnx``: the same weights exported with
  ``torch.onnx.export`` into the user cache, mean pooling and normalisation
  as the model's own modules do them);
- ONNX Runtime, int8: that cached graph with dynamic int8 quantisation
  (``onnxruntime.quantization.quantize_dynamic``), here only: it moves the
  vectors too far to be used.

Prints texts/s for each, the ratio to the baseline measured in the same run,
and how far each path's unit vectors are from the baseline's (minimum cosine
similarity, and whether the nearest neighbour of each text is the same).

sentence-transformers' own ``backend="onnx"``/``"openvino"`` need
``optimum-onnx`` (transformers < 4.58) or ``optimum-intel`` (transformers
< 5.6), which conflict with the transformers herdsman installs; herdsman
therefore drives ONNX Runtime directly.

Usage: python benchmarks/bench_embeddings.py [--n 2000] [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tests.helpers

from herdsman.dataset.embedder_onnx import OnnxEmbedder
from herdsman.dataset.embeddings import MAX_SEQ_LENGTH, embed, embedding_model_path, load_embedder
from tests.helpers.data import public_data


def texts(n: int) -> list[str]:
    rows = json.loads((public_data() / "alpaca" / "alpaca_5000.json").read_text())
    out = [r["instruction"] + ("\n" + r["input"] if r.get("input") else "") for r in rows]
    return out[:n]


def timed(fn, batch: list[str], repeats: int) -> tuple[float, np.ndarray]:  # type: ignore[no-untyped-def]
    fn(batch[:64])  # warm-up
    best, vectors = float("inf"), np.zeros(0)
    for _ in range(repeats):
        start = time.perf_counter()
        vectors = fn(batch)
        best = min(best, time.perf_counter() - start)
    return len(batch) / best, vectors


def agreement(vectors: np.ndarray, baseline: np.ndarray) -> tuple[float, float]:
    """Minimum cosine to the baseline's vector of the same text; share of same nearest neighbour."""
    cosine = float(np.min(np.sum(vectors * baseline, axis=1)))

    def nearest(v: np.ndarray) -> np.ndarray:
        sims = v @ v.T
        np.fill_diagonal(sims, -2)
        return np.argmax(sims, axis=1)

    return cosine, float(np.mean(nearest(vectors) == nearest(baseline)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    torch.set_num_threads(args.threads)  # both ONNX Runtime sessions take torch's thread count
    batch = texts(args.n)
    baseline = load_embedder(backend="torch")
    base_rate, base = timed(lambda b: embed(baseline, b), batch, args.repeats)
    fp32 = load_embedder(backend="onnx")  # exported into the user cache on first use
    assert isinstance(fp32, OnnxEmbedder)
    rows = [("sentence-transformers, PyTorch (baseline)", base_rate, base)]
    rate, vectors = timed(lambda b: embed(fp32, b), batch, args.repeats)
    rows.append(("ONNX Runtime fp32 (herdsman's CPU embedder)", rate, vectors))
    with tempfile.TemporaryDirectory() as tmp:
        int8 = Path(tmp) / "embedder-int8.onnx"
        quantize_dynamic(str(fp32.graph), str(int8), weight_type=QuantType.QInt8)
        quantized = OnnxEmbedder(int8, embedding_model_path(), args.threads, MAX_SEQ_LENGTH)
        rate, vectors = timed(lambda b: embed(quantized, b), batch, args.repeats)
        rows.append(("ONNX Runtime int8 (benchmark only)", rate, vectors))
    print(f"{args.n} Alpaca instructions, {args.threads} threads, best of {args.repeats}")
    print(
        "| path | texts/s | ratio to baseline | min cosine to baseline | same nearest neighbour |"
    )
    print("|---|---|---|---|---|")
    for name, rate, vectors in rows:
        cosine, same = agreement(vectors, base)
        print(f"| {name} | {rate:.1f} | {rate / base_rate:.2f}x | {cosine:.6f} | {same:.4f} |")


if __name__ == "__main__":
    main()
