"""The report's cost story (paper §5): what each condition costs per conversation, projected
where the tokens were not spoken by the model the suite names, and when compiling pays off.

Offline, the frontier's tokens are counted by the stand-in and would cost $0, which hides the
paper's main economic result. So frontier conditions are always priced at the list price of
the model the suite names (or `PROJECTION_MODEL` when that is the offline stand-in), and
labelled *projected* when another model spoke the tokens (offline, or a local rehearsal).
The compiled model and the base model are priced by GPU time (`SELF_HOSTED`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.conditions import model_role
from harness.cost import (
    GPU_DOLLARS_PER_HOUR,
    PROJECTION_MODEL,
    SELF_HOSTED,
    Hosting,
    compile_cost,
    compile_economics,
)
from harness.llm.base import Usage
from harness.llm.pricing import Price, UnknownPriceError, price_for

__all__ = ["BASELINE", "condition_pricing", "list_price", "projected_economics"]

BASELINE = "in_context"        # the paper's IC/Sub ratio: the frontier with the flowchart in context


def list_price(spec: str) -> tuple[str, Price]:
    """The model whose list price prices `spec`'s tokens, and that price (the projection
    model for the offline stand-in or a model with no known price)."""
    name = spec.split(":", 1)[1] if spec.startswith(("anthropic:", "openai:")) else spec
    try:
        if "offline" not in spec:
            return name, price_for(spec)
    except UnknownPriceError:
        pass
    return PROJECTION_MODEL, price_for(PROJECTION_MODEL)


def condition_pricing(conditions: Sequence[str], frontier_spec: str, agent_models: Mapping[str, set[str]]
                      ) -> tuple[dict[str, Price], dict[str, str], dict[str, Hosting]]:
    """(prices, projected, hosting) for `build_procedure_report`: every condition priced,
    frontier ones projected when their transcripts' agent model is not the one named."""
    prices: dict[str, Price] = {}
    projected: dict[str, str] = {}
    hosting: dict[str, Hosting] = {}
    for condition in conditions:
        if model_role(condition) != "frontier":
            prices[condition], hosting[condition] = SELF_HOSTED, "self_hosted"
            continue
        model, price = list_price(frontier_spec)
        prices[condition], hosting[condition] = price, "api"
        spoken = agent_models.get(condition, set())
        if any(price_for_or_none(m) != price for m in spoken):
            projected[condition] = model
    return prices, projected, hosting


def price_for_or_none(model_id: str) -> Price | None:
    try:
        return None if "offline" in model_id else price_for(model_id)
    except UnknownPriceError:
        return None


def projected_economics(costs: Sequence[Any], *, datagen_usage: Usage, generator_spec: str, datagen_model: str,
                        training_seconds: float, conversations: int = 10_000) -> dict[str, Any] | None:
    """Compile cost (data generation at the generator's list price, projected when offline,
    plus fine-tuning time at the self-hosted GPU rate) and the break-even against the
    in-context baseline; None when either condition is missing or unpriced."""
    by_name = {c.condition: c for c in costs}
    compiled, baseline = by_name.get("subterranean"), by_name.get(BASELINE)
    if compiled is None or baseline is None or compiled.cost is None or baseline.cost is None:
        return None
    model, price = list_price(generator_spec)
    one_time = compile_cost(datagen_usage, price, gpu_hours=training_seconds / 3600,
                            gpu_dollars_per_hour=GPU_DOLLARS_PER_HOUR)
    economics = compile_economics(one_time, compiled.cost, baseline.cost, conversations=conversations)
    ratio = (baseline.cost.total_per_conversation / compiled.cost.total_per_conversation
             if compiled.cost.total_per_conversation > 0 else None)
    return {"compile": one_time.model_dump(mode="json"), "datagen_priced_at": model,
            "datagen_projected": price_for_or_none(datagen_model) != price,
            "economics": economics.model_dump(mode="json"), "baseline_to_compiled_ratio": ratio,
            "baseline_projected_at": baseline.projected_at}
