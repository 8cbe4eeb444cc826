"""The sentence embedder on ONNX Runtime: a graph exported once from the model folder, cached.

The model folder's transformer is exported with ``torch.onnx.export`` (the
TorchScript exporter, dynamic batch and length) into the user cache
(:func:`herdsman.embedded.cache_dir`), under a name that is a fingerprint of the folder's
weights, the export format and the torch and onnx versions: new weights or a
new exporter give a new file, never a stale graph. The file is written under a
temporary name and renamed into place, so two processes exporting at once each
rename a complete graph. The fingerprint is also written into the graph's
metadata, the last field of the file: a truncated or otherwise damaged file
fails to load or lacks it, and is exported again.

:class:`OnnxEmbedder` tokenises as sentence-transformers does for the model
(the folder's tokenizer, padding to the longest text of a batch, truncation to
``max_seq_length``), runs the graph, mean-pools the token vectors over the
attention mask and normalises, in batches of similar length.
"""

from __future__ import annotations

import hashlib
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from herdsman.embedded import cache_dir
from herdsman.io.atomic import atomic_output
from herdsman.teachers.identity import weights_fingerprint

if TYPE_CHECKING:
    import onnxruntime

#: Bumped whenever the exported graph changes (inputs, outputs, wrapper), so
#: caches written by an older herdsman are not reused.
EXPORT_FORMAT = 1
OPSET = 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT = "last_hidden_state"
#: The graph's metadata key that holds its fingerprint (the last field written).
FINGERPRINT_KEY = "herdsman_fingerprint"


def graph_fingerprint(folder: Path) -> str:
    """What the exported graph depends on: the folder's weights, the format, torch and onnx."""
    import onnx
    import torch

    parts = (weights_fingerprint(folder.resolve()), EXPORT_FORMAT, OPSET)
    text = "\0".join(str(p) for p in (*parts, torch.__version__, onnx.__version__))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def graph_path(fingerprint: str) -> Path:
    """Where the graph with this fingerprint is cached."""
    return cache_dir() / "embeddings" / f"embedder-{fingerprint}.onnx"


def export_graph(folder: Path, target: Path, fingerprint: str) -> None:
    """Export the transformer of ``folder`` to ``target`` (atomically), fingerprint in its metadata.

    The output is the last hidden state; pooling and normalisation are done by
    :class:`OnnxEmbedder`, as the model's own sentence-transformers modules do.
    """
    import onnx
    import torch
    from transformers import AutoModel
    from transformers.utils import logging

    logging.disable_progress_bar()
    model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    ids = torch.ones(2, 16, dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0  # a padded row: the trace must keep the attention mask
    # The temporary file beside the target comes first: an unwritable cache fails
    # before the export's work, and a crash never leaves a partial graph behind.
    with atomic_output(target) as out, tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
            torch.onnx.export(
                Encoder().eval(),
                (ids, mask, torch.zeros_like(ids)),
                str(raw),
                input_names=list(INPUTS),
                output_names=[OUTPUT],
                dynamic_axes={name: {0: "batch", 1: "length"} for name in (*INPUTS, OUTPUT)},
                opset_version=OPSET,
                dynamo=False,
            )
        graph = onnx.load(str(raw))
        entry = graph.metadata_props.add()
        entry.key, entry.value = FINGERPRINT_KEY, fingerprint
        out.write(graph.SerializeToString())


def _session(graph: Path, threads: int) -> onnxruntime.InferenceSession:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: no notes about unused initialisers
    return ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])


class OnnxEmbedder:
    """Unit sentence embeddings from an ONNX graph of a sentence-transformers mean-pooling model.

    Args:
        graph: The ONNX file (from :func:`export_graph`, or a graph derived from it).
        folder: The model folder, for its tokenizer.
        threads: Intra-op threads of the ONNX Runtime session.
        max_seq_length: Word pieces kept per text (longer texts are truncated).
    """

    backend = "onnx"

    def __init__(self, graph: Path, folder: Path, threads: int, max_seq_length: int) -> None:
        from transformers import AutoTokenizer

        self.graph, self.max_seq_length = graph, max_seq_length
        self.session = _session(graph, threads)
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.dimension = int(self.session.get_outputs()[0].shape[-1])

    def fingerprint(self) -> str | None:
        """The fingerprint written into the graph's metadata, ``None`` without one."""
        return self.session.get_modelmeta().custom_metadata_map.get(FINGERPRINT_KEY)

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """One unit float32 row per text, in input order.

        Texts are batched longest first, as sentence-transformers does, so a
        batch pads to similar lengths.
        """
        out = np.zeros((len(texts), self.dimension), np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = self._batch([texts[i] for i in rows])
        return out

    def tokenize(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The graph's inputs for a batch: as sentence-transformers tokenises for this model."""
        enc: Any = self.tokenizer(
            texts,
            padding=True,
            truncation="longest_first",
            max_length=self.max_seq_length,
            return_tensors="np",
        )
        feeds = {name: np.asarray(enc[name], dtype=np.int64) for name in INPUTS[:2]}
        types = enc.get("token_type_ids")
        feeds["token_type_ids"] = (
            np.zeros_like(feeds["input_ids"]) if types is None else np.asarray(types, np.int64)
        )
        return feeds

    def _batch(self, texts: list[str]) -> np.ndarray:
        feeds = self.tokenize(texts)
        hidden = self.session.run([OUTPUT], feeds)[0]
        mask = feeds["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def load_onnx_embedder(folder: Path, threads: int, max_seq_length: int) -> OnnxEmbedder:
    """An :class:`OnnxEmbedder` on the cached graph of ``folder``, exported or re-exported as needed.

    A cached file that fails to load or does not carry its fingerprint (a
    truncated or damaged file) is exported again once.

    Raises:
        Exception: Whatever the export, the cache write or ONNX Runtime raise;
            the caller decides whether to fall back.
    """
    expected = graph_fingerprint(folder)
    path = graph_path(expected)
    if path.is_file():
        try:
            embedder = OnnxEmbedder(path, folder, threads, max_seq_length)
            if embedder.fingerprint() == expected:
                return embedder
        except Exception:  # a damaged file: ONNX Runtime's errors have no common base
            pass
    export_graph(folder, path, expected)
    embedder = OnnxEmbedder(path, folder, threads, max_seq_length)
    if embedder.fingerprint() != expected:
        raise RuntimeError(f"{path}: the exported graph does not carry its fingerprint")
    return embedder
