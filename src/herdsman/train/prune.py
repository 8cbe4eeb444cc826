"""``init: prune``: cut a student from the teacher by dropping whole decoder layers (ShortGPT).

The *block influence* of decoder layer ``i`` is ``1 - mean cos(x_i, y_i)``,
the mean taken over every token of a calibration sample, where ``x_i`` and
``y_i`` are the hidden states entering and leaving the layer (read with
forward hooks, no gradients). A layer that barely turns its input (influence
near 0) does little; :func:`prune_layers` keeps the ``keep_layers`` layers of
highest influence, in their original order, and renumbers them so the cut
model is an ordinary, smaller model of the same architecture: a new
``ModuleList``, ``num_hidden_layers`` (``n_layer`` for GPT-2-like configs)
set to the new depth, per-layer config lists (``layer_types``...) sliced the
same way, and every kept module's ``layer_idx`` (what the KV cache is indexed
by) set to its new index. The folder it is saved to loads with plain
``AutoModelForCausalLM.from_pretrained`` and generates.

Men, Xin et al., *ShortGPT: Layers in Large Language Models are More
Redundant Than You Expect* (2024).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from herdsman.errors import HerdsmanError

INIT_FOLDER = "init"


@dataclass(frozen=True)
class PruneResult:
    """What pruning kept: original indices of the kept layers, every layer's influence, size."""

    source: str
    num_layers: int
    kept_layers: list[int]
    influence: list[float]
    parameters: int

    def record(self) -> dict[str, Any]:
        """The ``init`` entry of ``herdsman-train.json``."""
        return {
            "kind": "prune",
            "from": self.source,
            "num_layers": self.num_layers,
            "kept_layers": self.kept_layers,
            "influence": [round(v, 6) for v in self.influence],
            "parameters": self.parameters,
        }


def _model_name(model: Any) -> str:
    config = getattr(model, "config", None)
    where = getattr(config, "_name_or_path", "") or ""
    return f"{type(model).__name__}" + (f" ({where})" if where else "")


def decoder_layers(model: Any) -> tuple[Any, str]:
    """The module holding the decoder layer stack and the attribute name of the stack.

    ``model.model.layers`` (Llama, Qwen, Gemma, Mistral...) or
    ``model.transformer.h`` (GPT-2-like).

    Raises:
        HerdsmanError: No such stack (an encoder-decoder model such as T5).
    """
    import torch

    for path, attr in (("model", "layers"), ("transformer", "h"), ("gpt_neox", "layers")):
        parent = getattr(model, path, None)
        stack = getattr(parent, attr, None) if parent is not None else None
        if isinstance(stack, torch.nn.ModuleList) and len(stack) > 0:
            return parent, attr
    raise HerdsmanError(
        f"init: prune cuts decoder layers, but {_model_name(model)} has no decoder layer stack "
        "(model.model.layers or model.transformer.h); prune a decoder-only model"
    )


def _hidden(value: Any) -> Any:
    """The hidden-state tensor of a layer's input or output (some layers return tuples)."""
    import torch

    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], torch.Tensor):
        return value[0]
    return None


def block_influence(model: Any, samples: Iterable[Sequence[int]]) -> list[float]:
    """``1 - mean cosine(input, output)`` of every decoder layer over the samples' tokens.

    Each sample (a list of token ids) runs alone, so no padding enters the mean.

    Raises:
        HerdsmanError: No decoder layer stack, or no token to measure on.
    """
    import torch

    parent, attr = decoder_layers(model)
    layers = getattr(parent, attr)
    sums = [0.0] * len(layers)
    tokens = [0] * len(layers)

    def hook(index: int) -> Any:
        def record(module: Any, args: Any, kwargs: Any, output: Any) -> None:
            inputs = _hidden(args) if args else None
            if inputs is None:
                inputs = kwargs.get("hidden_states")
            outputs = _hidden(output)
            if inputs is None or outputs is None:
                return
            a = inputs.float().reshape(-1, inputs.shape[-1])
            b = outputs.float().reshape(-1, outputs.shape[-1])
            cos = torch.nn.functional.cosine_similarity(a, b, dim=-1)
            sums[index] += float(cos.sum())
            tokens[index] += int(cos.numel())

        return record

    handles = [
        layer.register_forward_hook(hook(i), with_kwargs=True) for i, layer in enumerate(layers)
    ]
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        with torch.no_grad():
            for ids in samples:
                if len(ids) == 0:
                    continue
                model(input_ids=torch.tensor([list(ids)], device=device), use_cache=False)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    if not tokens[0]:
        raise HerdsmanError("init: prune has no calibration tokens to rank the layers with")
    return [1.0 - s / n for s, n in zip(sums, tokens, strict=True)]


def choose_layers(influence: Sequence[float], keep: int) -> list[int]:
    """Indices of the ``keep`` layers of highest influence, in their original order.

    Raises:
        HerdsmanError: ``keep`` outside ``[1, len(influence)]``.
    """
    total = len(influence)
    if not 1 <= keep <= total:
        raise HerdsmanError(
            f"keep_layers {keep} is out of range: the model has {total} decoder layers "
            f"(keep between 1 and {total})"
        )
    ranked = sorted(range(total), key=lambda i: (-influence[i], i))
    return sorted(ranked[:keep])


def prune_layers(model: Any, keep: Sequence[int]) -> Any:
    """Keep only the decoder layers ``keep`` (original indices, ascending) and renumber.

    Changes ``model`` in place and returns it.
    """
    import torch

    parent, attr = decoder_layers(model)
    layers = getattr(parent, attr)
    total = len(layers)
    kept = list(keep)
    setattr(parent, attr, torch.nn.ModuleList([layers[i] for i in kept]))
    for new, layer in enumerate(getattr(parent, attr)):
        for module in layer.modules():
            if isinstance(getattr(module, "layer_idx", None), int):
                module.layer_idx = new
    configs = [model.config]
    text = model.config.get_text_config() if hasattr(model.config, "get_text_config") else None
    if text is not None and text is not model.config:
        configs.append(text)
    for config in configs:
        for name, value in list(vars(config).items()):
            if (
                isinstance(value, (list, tuple))
                and len(value) == total
                and not name.startswith("_")
            ):
                setattr(config, name, type(value)(value[i] for i in kept))
        if hasattr(config, "num_hidden_layers"):
            config.num_hidden_layers = len(kept)  # GPT-2's attribute_map points it at n_layer
    return model


def count_parameters(model: Any) -> int:
    """Distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())


def prune_model(
    model: Any, samples: Iterable[Sequence[int]], keep_layers: int, source: str
) -> PruneResult:
    """Rank the layers on the samples, keep the ``keep_layers`` most influential, renumber.

    Raises:
        HerdsmanError: No decoder layer stack, or ``keep_layers`` out of range
            (checked before any forward pass).
    """
    parent, attr = decoder_layers(model)
    total = len(getattr(parent, attr))
    choose_layers([0.0] * total, keep_layers)  # the range check, before the calibration pass
    influence = block_influence(model, samples)
    kept = choose_layers(influence, keep_layers)
    prune_layers(model, kept)
    return PruneResult(source, total, kept, influence, count_parameters(model))


def save_pruned(model: Any, tokenizer: Any, folder: Path) -> Path:
    """Save the cut model and its tokenizer into ``folder`` (replaced whole, via a temporary folder)."""
    from herdsman.train.bases import save_model_folder

    return save_model_folder(model, tokenizer, folder)
