"""Dollar prices per million tokens, and the cost of a `Usage`.

`price_for("claude-sonnet-4-5-20250929")` finds the list price (provider prefixes such as
``anthropic:`` and date suffixes are ignored); user overrides, as a dict or a YAML file, win
over the defaults. A model we run ourselves is priced by GPU time: `self_hosted_price`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .base import Usage
from .errors import LLMError

__all__ = [
    "DEFAULT_PRICES",
    "Price",
    "UnknownPriceError",
    "cost",
    "load_prices",
    "price_for",
    "self_hosted_price",
]

_PER_MILLION = 1_000_000


@dataclass(frozen=True)
class Price:
    """US dollars per million input (prompt) and output (completion) tokens."""

    input_per_mtok: float
    output_per_mtok: float

    def __post_init__(self) -> None:
        if self.input_per_mtok < 0 or self.output_per_mtok < 0:
            raise ValueError(f"prices must be >= 0, got {self}")


# List prices (USD per million tokens) as published by the providers.
DEFAULT_PRICES: Mapping[str, Price] = MappingProxyType(
    {
        "claude-sonnet-4-5": Price(3.00, 15.00),
        "claude-haiku-4-5": Price(1.00, 5.00),
        "claude-opus-4-1": Price(15.00, 75.00),
        "gpt-4.1": Price(2.00, 8.00),
        "gpt-4.1-mini": Price(0.40, 1.60),
        "gpt-4o": Price(2.50, 10.00),
        "offline": Price(0.0, 0.0),
    }
)

_PROVIDER_PREFIX = re.compile(r"^(anthropic|openai):")
# claude-sonnet-4-5-20250929, gpt-4.1-2025-04-14, claude-sonnet-4-5-latest
_VERSION_SUFFIX = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2}|latest)$")


class UnknownPriceError(LLMError, LookupError):
    """No price is known for a model id."""


Overrides = Mapping[str, Price | Mapping[str, float]] | str | Path | None


def load_prices(path: str | Path) -> dict[str, Price]:
    """Read ``model: {input_per_mtok: X, output_per_mtok: Y}`` entries from YAML.

    The entries may sit at the top level or under a ``prices:`` key.
    """
    from harness.yaml_source import load_yaml  # bounded; bad YAML is one file:line error

    data, _ = load_yaml(path)
    if isinstance(data, dict) and isinstance(data.get("prices"), dict):
        data = data["prices"]
    if not isinstance(data, dict):
        raise ValueError(
            f"{path}: expected a mapping of model id -> price, found {type(data).__name__}"
        )
    return _as_prices(data, source=str(path))


def _as_prices(entries: Mapping[str, Any], *, source: str) -> dict[str, Price]:
    prices = {}
    for model, entry in entries.items():
        if isinstance(entry, Price):
            prices[str(model)] = entry
            continue
        if not isinstance(entry, Mapping) or set(entry) != {"input_per_mtok", "output_per_mtok"}:
            raise ValueError(
                f"{source}: price of {model!r} must have exactly input_per_mtok and "
                f"output_per_mtok, found {entry!r}"
            )
        prices[str(model)] = Price(float(entry["input_per_mtok"]), float(entry["output_per_mtok"]))
    return prices


def _normalise(model_id: str) -> str:
    name = _PROVIDER_PREFIX.sub("", model_id.strip())
    if name == "offline" or name.startswith("offline:"):
        return "offline"
    return _VERSION_SUFFIX.sub("", name)


def price_for(model_id: str, overrides: Overrides = None) -> Price:
    """The price of `model_id`: an override if given, else the default table."""
    table: dict[str, Price] = dict(DEFAULT_PRICES)
    if isinstance(overrides, (str, Path)):
        table.update(load_prices(overrides))
    elif overrides is not None:
        table.update(_as_prices(overrides, source="price overrides"))
    for candidate in (model_id, _normalise(model_id)):
        if candidate in table:
            return table[candidate]
    hint = (
        " (a model you host: price it with self_hosted_price(...) and pass it as an override)"
        if model_id.startswith(("local:", "openai-compatible:"))
        else ""
    )
    raise UnknownPriceError(
        f"no price known for model {model_id!r}{hint}; known: {', '.join(sorted(table))}. "
        "Add it to the price overrides (dict or YAML)"
    )


def self_hosted_price(
    gpu_dollars_per_hour: float, prefill_tokens_per_s: float, decode_tokens_per_s: float
) -> Price:
    """Price of tokens served by a GPU billed by the hour, at the given throughputs.

    E.g. an A100 at $2.50/h prefilling 15K and decoding 3K tokens/s costs about $0.05 per
    million input and $0.23 per million output tokens.
    """
    if gpu_dollars_per_hour < 0:
        raise ValueError(f"gpu_dollars_per_hour must be >= 0, got {gpu_dollars_per_hour}")
    if prefill_tokens_per_s <= 0 or decode_tokens_per_s <= 0:
        raise ValueError(
            f"throughputs must be > 0, got prefill {prefill_tokens_per_s}, decode {decode_tokens_per_s}"
        )
    per_second = gpu_dollars_per_hour / 3600
    return Price(
        input_per_mtok=per_second / prefill_tokens_per_s * _PER_MILLION,
        output_per_mtok=per_second / decode_tokens_per_s * _PER_MILLION,
    )


def cost(usage: Usage, price: Price) -> float:
    """Dollars for `usage` at `price`."""
    return (
        usage.input_tokens * price.input_per_mtok + usage.output_tokens * price.output_per_mtok
    ) / _PER_MILLION
