from __future__ import annotations

from pathlib import Path

import pytest

from herdsman.errors import InputError
from herdsman.teachers.pricing import PriceTable


def test_cost_uses_per_million_prices_and_dated_variants() -> None:
    table = PriceTable()
    assert table.cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert table.cost("gpt-4o-mini-2024-07-18", 2_000, 0) == pytest.approx(0.0003)
    assert table.cost("my-local-model", 100, 100) is None


def test_price_file_overrides_and_extends(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text("gpt-4o-mini: {input: 1, output: 2}\nqwen: {input: 0.1, output: 0.2}\n")
    table = PriceTable.from_file(path)
    assert table.cost("gpt-4o-mini", 1_000_000, 0) == pytest.approx(1.0)
    assert table.cost("qwen", 0, 1_000_000) == pytest.approx(0.2)


def test_bad_price_file_names_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text("gpt-4o-mini: {input: cheap}\n")
    with pytest.raises(InputError, match="gpt-4o-mini"):
        PriceTable.from_file(path)
