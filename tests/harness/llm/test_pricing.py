"""Prices, overrides, self-hosted prices and costs."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.llm import Price, Usage, cost, price_for, self_hosted_price
from harness.llm.pricing import DEFAULT_PRICES, UnknownPriceError, load_prices


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("claude-sonnet-4-5", Price(3, 15)),
        ("anthropic:claude-sonnet-4-5", Price(3, 15)),
        ("claude-sonnet-4-5-20250929", Price(3, 15)),
        ("claude-haiku-4-5", Price(1, 5)),
        ("claude-opus-4-1", Price(15, 75)),
        ("gpt-4.1", Price(2, 8)),
        ("gpt-4.1-2025-04-14", Price(2, 8)),
        ("openai:gpt-4.1-mini", Price(0.40, 1.60)),
        ("gpt-4o", Price(2.50, 10)),
        ("offline", Price(0, 0)),
        ("offline:judge", Price(0, 0)),
    ],
)
def test_default_prices(model_id: str, expected: Price) -> None:
    assert price_for(model_id) == expected


def test_unknown_models_are_a_clear_error() -> None:
    with pytest.raises(UnknownPriceError, match="'gpt-4o-mini'.*known: claude-haiku-4-5"):
        price_for("gpt-4o-mini")  # must not fall back to gpt-4o's price
    with pytest.raises(UnknownPriceError, match="self_hosted_price"):
        price_for("local:smollm2-135m")


def test_overrides_from_a_dict_and_from_yaml(tmp_path: Path) -> None:
    assert price_for("gpt-4.1", {"gpt-4.1": Price(1, 1)}) == Price(1, 1)
    assert price_for(
        "local:x", {"local:x": {"input_per_mtok": 0.05, "output_per_mtok": 0.23}}
    ) == Price(0.05, 0.23)
    path = tmp_path / "prices.yaml"
    path.write_text("prices:\n  my-model: {input_per_mtok: 0.5, output_per_mtok: 2}\n")
    assert price_for("my-model", path) == Price(0.5, 2.0)
    assert price_for("gpt-4o", str(path)) == DEFAULT_PRICES["gpt-4o"]
    path.write_text("my-model: {input_per_mtok: 0.5}\n")
    with pytest.raises(ValueError, match="exactly input_per_mtok and output_per_mtok"):
        load_prices(path)


def test_self_hosted_price_matches_the_paper() -> None:
    price = self_hosted_price(2.50, 15_000, 3_000)  # A100
    assert price.input_per_mtok == pytest.approx(0.0463, abs=1e-4)
    assert price.output_per_mtok == pytest.approx(0.2315, abs=1e-4)
    with pytest.raises(ValueError, match="throughputs must be > 0"):
        self_hosted_price(2.5, 0, 3000)


def test_cost_in_dollars() -> None:
    usage = Usage(input_tokens=2_000_000, output_tokens=500_000, calls=3)
    assert cost(usage, Price(3, 15)) == pytest.approx(6 + 7.5)
    assert cost(Usage(), Price(3, 15)) == 0.0
    with pytest.raises(ValueError, match=">= 0"):
        Price(-1, 0)
