"""What a conversation costs under each condition, and when compiling pays for itself (§5).

Running cost comes from measured usage: a condition's transcripts carry the agent's
generation usage and, for orchestrated conditions, the routing classifier's usage. Each is
priced separately (an API list price from `harness.llm.pricing.price_for`, or a GPU billed
by the hour via `self_hosted_price`). The user simulator's usage is not a cost of the
agent (it stands in for the customer) and is left out.

Compiling costs once: the data-generation calls plus GPU hours for fine-tuning. Against a
baseline that costs more per conversation, it breaks even after
ceil(compile cost / (baseline − compiled per-conversation cost)) conversations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from harness.llm.base import Usage
from harness.llm.pricing import Price, cost, self_hosted_price
from harness.transcript import Transcript

__all__ = [
    "GPU_DOLLARS_PER_HOUR",
    "PROJECTION_MODEL",
    "SELF_HOSTED",
    "CompileCost",
    "CompileEconomics",
    "ConditionCost",
    "ConditionUsage",
    "amortised_per_conversation",
    "break_even_conversations",
    "compile_cost",
    "compile_economics",
    "condition_cost",
    "condition_usage",
    "dollars",
]

Hosting = Literal["api", "self_hosted"]


class ConditionUsage(BaseModel):
    """Total usage of one condition over `conversations` conversations, with its prices."""

    model_config = ConfigDict(frozen=True)

    condition: str
    conversations: int = Field(ge=1)
    hosting: Hosting
    generation: Usage
    generation_price: Price
    routing: Usage = Field(default_factory=Usage)
    routing_price: Price | None = None     # None: routing runs on the generation model


class ConditionCost(BaseModel):
    """Per-conversation dollars of one condition, generation and routing apart."""

    model_config = ConfigDict(frozen=True)

    condition: str
    conversations: int
    hosting: Hosting
    generation_per_conversation: float
    routing_per_conversation: float
    input_tokens_per_conversation: float
    output_tokens_per_conversation: float

    @computed_field
    @property
    def total_per_conversation(self) -> float:
        return self.generation_per_conversation + self.routing_per_conversation


def condition_usage(condition: str, transcripts: Sequence[Transcript], *, hosting: Hosting,
                    generation_price: Price, routing_price: Price | None = None) -> ConditionUsage:
    """Sum the agent and routing usage measured in one condition's transcripts."""
    if not transcripts:
        raise ValueError(f"condition {condition!r}: expected at least one transcript, found none")
    others = sorted({t.condition for t in transcripts} - {condition})
    if others:
        raise ValueError(f"condition {condition!r}: found transcripts of other conditions {others}")
    return ConditionUsage(
        condition=condition,
        conversations=len(transcripts),
        hosting=hosting,
        generation=sum((t.agent_usage for t in transcripts), Usage()),
        generation_price=generation_price,
        routing=sum((t.routing_usage for t in transcripts), Usage()),
        routing_price=routing_price,
    )


def condition_cost(usage: ConditionUsage) -> ConditionCost:
    """Dollars per conversation: total usage at its prices, divided by the conversations."""
    n = usage.conversations
    routing_price = usage.routing_price or usage.generation_price
    return ConditionCost(
        condition=usage.condition,
        conversations=n,
        hosting=usage.hosting,
        generation_per_conversation=cost(usage.generation, usage.generation_price) / n,
        routing_per_conversation=cost(usage.routing, routing_price) / n,
        input_tokens_per_conversation=(usage.generation.input_tokens + usage.routing.input_tokens) / n,
        output_tokens_per_conversation=(usage.generation.output_tokens + usage.routing.output_tokens) / n,
    )


# ---- one-time compile cost ---------------------------------------------------------------------

class CompileCost(BaseModel):
    model_config = ConfigDict(frozen=True)

    datagen_usage: Usage
    datagen_price: Price
    gpu_hours: float = Field(ge=0)
    gpu_dollars_per_hour: float = Field(ge=0)

    @computed_field
    @property
    def datagen_dollars(self) -> float:
        return cost(self.datagen_usage, self.datagen_price)

    @computed_field
    @property
    def training_dollars(self) -> float:
        return self.gpu_hours * self.gpu_dollars_per_hour

    @computed_field
    @property
    def total_dollars(self) -> float:
        return self.datagen_dollars + self.training_dollars


def compile_cost(datagen_usage: Usage, datagen_price: Price, *, gpu_hours: float,
                 gpu_dollars_per_hour: float) -> CompileCost:
    return CompileCost(datagen_usage=datagen_usage, datagen_price=datagen_price, gpu_hours=gpu_hours,
                       gpu_dollars_per_hour=gpu_dollars_per_hour)


def break_even_conversations(compile_dollars: float, compiled_per_conversation: float,
                             baseline_per_conversation: float) -> int | None:
    """Fewest conversations after which compiling plus running is no dearer than the baseline.

    None when the compiled model is not cheaper per conversation (it never breaks even).
    """
    if compile_dollars < 0:
        raise ValueError(f"compile cost must be >= 0, found {compile_dollars}")
    saving = baseline_per_conversation - compiled_per_conversation
    if saving <= 0:
        return None
    return math.ceil(compile_dollars / saving)


def amortised_per_conversation(compile_dollars: float, conversations: int = 10_000) -> float:
    """Compile cost spread over a deployment's lifetime conversation count."""
    if conversations < 1:
        raise ValueError(f"conversations must be >= 1, found {conversations}")
    return compile_dollars / conversations


class CompileEconomics(BaseModel):
    model_config = ConfigDict(frozen=True)

    compile_dollars: float
    compiled: str
    baseline: str
    saving_per_conversation: float
    break_even_conversations: int | None
    conversations: int
    amortised_per_conversation: float


def compile_economics(compile: CompileCost, compiled: ConditionCost, baseline: ConditionCost, *,
                      conversations: int = 10_000) -> CompileEconomics:
    """Break-even against `baseline` and the per-conversation share over `conversations`."""
    total = compile.total_dollars
    return CompileEconomics(
        compile_dollars=total,
        compiled=compiled.condition,
        baseline=baseline.condition,
        saving_per_conversation=baseline.total_per_conversation - compiled.total_per_conversation,
        break_even_conversations=break_even_conversations(
            total, compiled.total_per_conversation, baseline.total_per_conversation),
        conversations=conversations,
        amortised_per_conversation=amortised_per_conversation(total, conversations),
    )


# ---- what a report shows: dollars, and the projection of offline runs ------------------------

# The paper prices the frontier at Claude Sonnet 4.5's list price (Table 6); offline runs count
# the same tokens, so they are priced as if that model had spoken them, and labelled projected.
PROJECTION_MODEL = "claude-sonnet-4-5"
# The paper's self-hosting assumption (§5): an A100 at $2.50/h, ~15K prefill and ~3K decode tok/s.
GPU_DOLLARS_PER_HOUR = 2.50
SELF_HOSTED = self_hosted_price(GPU_DOLLARS_PER_HOUR, 15_000, 3_000)


def dollars(amount: float | None) -> str:
    """'$1,234.50', '$0.0123', '$0.000052': always positional, never scientific notation,
    with three significant digits below a cent."""
    if amount is None:
        return "—"
    if amount == 0 or abs(amount) >= 0.01:
        return f"${amount:,.2f}" if abs(amount) >= 1 or amount == 0 else f"${amount:.4f}"
    places = min(12, 2 - math.floor(math.log10(abs(amount))))
    return f"${amount:.{places}f}"
