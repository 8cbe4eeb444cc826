"""Token prices for API teachers, to account cost per call.

Prices are USD per million tokens, ``(input, output)``. The defaults are list
prices of common models (November 2026 list prices may differ: pass a price
file to be exact); a file (YAML or JSON mapping ``model: {input, output}``)
overrides or extends them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from herdsman.errors import InputError
from herdsman.io.mapping_file import read_mapping

DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-3.5-turbo": (0.50, 1.50),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1": (2.00, 8.00),
}


@dataclass
class PriceTable:
    """Maps model names to ``(input, output)`` USD per million tokens."""

    prices: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_PRICES))

    def lookup(self, model: str) -> tuple[float, float] | None:
        """Price of ``model``; a dated variant (``gpt-4o-2024-08-06``) falls back to its family."""
        if model in self.prices:
            return self.prices[model]
        best = max(
            (name for name in self.prices if model.startswith(name + "-")), key=len, default=None
        )
        return self.prices[best] if best else None

    def cost(
        self, model: str, prompt_tokens: int | None, completion_tokens: int | None
    ) -> float | None:
        """USD for one call, or ``None`` when the model has no price."""
        price = self.lookup(model)
        if price is None:
            return None
        return ((prompt_tokens or 0) * price[0] + (completion_tokens or 0) * price[1]) / 1e6

    @classmethod
    def from_file(cls, path: str | Path) -> PriceTable:
        """Defaults updated from a YAML/JSON file of ``model: {input: X, output: Y}``."""
        path = Path(path)
        data, _ = read_mapping(path, "price table", "of model names to prices")
        table = cls()
        for name, entry in data.items():
            try:
                table.prices[str(name)] = (float(entry["input"]), float(entry["output"]))
            except (TypeError, KeyError, ValueError):
                raise InputError(
                    str(path), None, f"field '{name}': expected {{input: USD/1M, output: USD/1M}}"
                ) from None
        return table
