"""What a teacher's answers depend on besides the prompt: where the call goes.

A run store replays an answer only for a call with the same key, so the key
must name the source of the answer, not just a model name that two servers
(a real one and the loopback stub, a vLLM server and a gateway) may share:

- an OpenAI-compatible endpoint is named by its normalised base URL (scheme
  and host lower-cased, default port and trailing slash dropped);
- a local model folder is named by its resolved path and a fingerprint of its
  weights: the config, each weight file's name and size, and sampled bytes of
  each (the header and evenly spaced blocks), so that fine-tuned weights of
  the same shape in the same folder are a different teacher, without reading
  gigabytes on every start.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".h5", ".msgpack")
HEADER_BYTES = 1 << 20
SAMPLES = 16
SAMPLE_BYTES = 4096


def endpoint_identity(base_url: str) -> str:
    """A base URL normalised so that spellings of one endpoint share call keys."""
    parts = urlsplit(base_url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None or DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    path = parts.path.rstrip("/")
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def _file_sample(path: Path, size: int) -> bytes:
    """The header and evenly spaced blocks of a (possibly huge) file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        digest.update(handle.read(HEADER_BYTES))
        if size > HEADER_BYTES:
            step = (size - HEADER_BYTES) // SAMPLES
            for n in range(SAMPLES):
                handle.seek(HEADER_BYTES + n * step)
                digest.update(handle.read(SAMPLE_BYTES))
    return digest.digest()


def weights_fingerprint(folder: Path) -> str:
    """A short hash of a model folder's config and weights (sampled, not read whole)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if path.name == "config.json":
            digest.update(name.encode() + b"\0" + path.read_bytes())
        elif path.suffix in WEIGHT_SUFFIXES:
            size = path.stat().st_size
            digest.update(f"{name}\0{size}\0".encode() + _file_sample(path, size))
    return digest.hexdigest()[:16]


def folder_identity(folder: Path) -> str:
    """A local model's identity: its resolved folder and its weights' fingerprint."""
    resolved = folder.resolve()
    return f"{resolved}#{weights_fingerprint(resolved)}"
