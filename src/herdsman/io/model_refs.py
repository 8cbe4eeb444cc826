"""Model references: a folder or a Hugging Face hub id, resolved by one rule everywhere.

A teacher's ``model`` (local and vllm backends), a student's ``base``, a gkd
student's ``teacher_model`` and the IFD scorer are model references. Each is,
in this order:

1. a folder: relative to the config file (or to the working directory on the
   command line), or an absolute, ``./``, ``../`` or ``~`` path;
2. else a hub id (``owner/name``) found in the local Hugging Face cache
   (``HF_HUB_CACHE``, else ``HF_HOME/hub``): its snapshot folder, with no network;
3. else, with ``hub: online`` (:mod:`herdsman.io.hub`), downloaded into that
   cache; with ``hub: offline`` it is refused, in one line naming the reference
   and where it was looked for.

Embedded aliases (``gemma-3-270m``...) are the callers' business: they are
checked before a reference reaches this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from herdsman.errors import HerdsmanError
from herdsman.io.hub import hub_cache, hub_errors, hub_mode

#: How a reference's folder is described: relative to the config, or to the working directory.
BESIDE_CONFIG = "beside the config"
IN_WORKING_DIR = "in the working directory"
#: A model folder's weights, in any of the layouts transformers saves.
WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json")
#: Files of a hub repository that no herdsman loader reads (other frameworks' weights).
NOT_DOWNLOADED = ("*.h5", "*.msgpack", "*.ot", "*.onnx", "*.tflite", "onnx/*", "original/*")


@dataclass(frozen=True)
class ModelRef:
    """A resolved reference.

    Attributes:
        value: The reference as written.
        path: The model folder (the given folder, or the hub id's cached snapshot);
            ``None`` for a hub id that was checked on the hub but not downloaded yet.
        hub_id: The hub id, when the reference is one.
    """

    value: str
    path: Path | None
    hub_id: str | None = None

    @property
    def name(self) -> str:
        """A stable name for call keys and cards: the hub id, else the resolved folder."""
        return self.hub_id or str(self.path)


def is_path_like(value: str) -> bool:
    """Whether ``value`` can only be a path: absolute, or starting with ``./``, ``../`` or ``~``."""
    return (
        value in (".", "..")
        or value.startswith(("./", "../", "~", ".\\", "..\\"))
        or Path(value).is_absolute()
    )


def is_hub_id(value: str) -> bool:
    """Whether ``value`` is a valid hub repository id (``owner/name`` or ``name``)."""
    if not value or is_path_like(value):
        return False
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(value)
    except HFValidationError:
        return False
    return True


def local_path(value: str, base: Path) -> Path:
    """Where ``value`` points as a path: absolute as given, else relative to ``base``."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def has_weights(folder: Path) -> bool:
    """Whether a model folder holds weights (safetensors or PyTorch, whole or sharded)."""
    return any(next(folder.glob(pattern), None) is not None for pattern in WEIGHT_PATTERNS)


def cached_snapshot(repo_id: str) -> Path | None:
    """The cached snapshot folder of a hub id, without any network access (``None``: not cached)."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # not cached, or not a valid repo id: both mean "not here"
        return None


def resolve_model_ref(
    value: str, base: Path, *, where: str = BESIDE_CONFIG, download: bool = True
) -> ModelRef:
    """Resolve a model reference to a folder, or to a hub id the hub has.

    Args:
        value: The reference: a folder or a hub id.
        base: The folder relative paths start from (the config's, or the working directory).
        where: How ``base`` is named in messages (:data:`BESIDE_CONFIG`, :data:`IN_WORKING_DIR`).
        download: With ``hub: online``, download a hub id missing from the cache. Without,
            only ask the hub that it exists (a check before any stage runs downloads nothing).

    Raises:
        HerdsmanError: One line naming the reference and what was searched: no such folder,
            not cached with the hub offline, or the hub unreachable or without the repository.
    """
    path = local_path(value, base)
    if path.exists():
        if not path.is_dir():
            raise HerdsmanError(f"'{value}' is a file ({path}), not a model folder")
        return ModelRef(value, path.resolve())
    if is_path_like(value):
        raise HerdsmanError(f"'{value}' is not a local folder ({path} does not exist)")
    if not is_hub_id(value):
        raise HerdsmanError(
            f"'{value}' is not a local folder {where} ({path}) and not a hub id (owner/name)"
        )
    cache = hub_cache()
    cached = cached_snapshot(value)
    online = hub_mode() == "online"
    if cached is not None and (has_weights(cached) or not online):
        return ModelRef(value, cached, value)
    if not online:
        raise HerdsmanError(
            f"'{value}' is not a local folder {where}, not in the local Hugging Face cache "
            f"({cache}), and hub: offline forbids downloading it"
        )
    from huggingface_hub import HfApi, snapshot_download

    if not download:
        with hub_errors(
            f"'{value}' is not a local folder {where} nor in the local Hugging Face cache ({cache}), and "
            "looking it up on the hub failed"
        ):
            HfApi().model_info(value)
        return ModelRef(value, cached, value)
    with hub_errors(
        f"'{value}' is not a local folder {where} nor in the local Hugging Face cache ({cache}), and "
        "downloading it failed"
    ):
        folder = Path(snapshot_download(value, ignore_patterns=list(NOT_DOWNLOADED)))
    return ModelRef(value, folder, value)
