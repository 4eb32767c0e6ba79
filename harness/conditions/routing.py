"""The orchestrators' edge classifier: one model call at a hub, answered with an option's name.

The request carries the conversation as chat messages (the customer's message last), the
options in the system prompt, and the choice among the edges' targets as its `output`: a
provider that constrains (vendor structured outputs, local constrained decoding) can only
answer with one of them. A `route` hint lets the offline model answer it too. For providers
that cannot constrain, the free-text answer is parsed (an option's name or number) and an
unparsable one takes the first edge, counted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from harness.llm.base import ChatModel, ChatRequest, Hint, OutputSchema, Usage
from harness.procedure import Edge, Procedure, Role
from harness.transcript import Turn

from .base import history_messages

ROUTER_SYSTEM = (
    "You route a customer-service conversation through a flowchart. Read the conversation and "
    "decide which of the statements is true after the customer's latest message.\n\n"
    "{options}\n\nAnswer with the name of the true statement's option only."
)
# An option's name, or the JSON object a vendor wraps it in, with room to spare; a provider
# that constrains stops at the option's end, so the room costs nothing.
ROUTE_MAX_TOKENS = 32


class RouteDecision:
    """The chosen target; whether the reply had to be guessed (an unparsable answer); whether
    the provider constrained the answer to the options."""

    def __init__(self, target: str, usage: Usage, parsed: bool, constrained: bool = False) -> None:
        self.target, self.usage, self.parsed, self.constrained = target, usage, parsed, constrained


def option_texts(procedure: Procedure, edges: Sequence[Edge]) -> dict[str, tuple[str, ...]]:
    """What describes each edge for the offline router: its condition, its own examples (at a
    customer hub) and, when it leads to a customer step, that step's example utterances."""
    def texts(edge: Edge) -> tuple[str, ...]:
        target = procedure.nodes[edge.to]
        examples = tuple(target.examples) if target.role is Role.USER else ()
        return (edge.when or edge.to, *edge.examples, *examples)
    return {e.to: texts(e) for e in edges}


def route_request(procedure: Procedure, edges: Sequence[Edge], turns: Sequence[Turn], *,
                  seed: int | None, trial: int = 0) -> ChatRequest:
    options = "\n".join(f"{i}. {e.to}: {e.when or e.to}" for i, e in enumerate(edges, 1))
    return ChatRequest(
        messages=history_messages(ROUTER_SYSTEM.format(options=options), turns, opener=True),
        max_tokens=ROUTE_MAX_TOKENS, temperature=0.0, seed=seed, trial=trial, purpose="routing",
        hint=Hint(task="route", options=option_texts(procedure, edges)),
        output=OutputSchema(name="route", choices=tuple(dict.fromkeys(e.to for e in edges))))


def parse_route(text: str, edges: Sequence[Edge]) -> str | None:
    """The target named by `text`: an option number, or a target id (the offline model's answer)."""
    answer = text.strip().lower()
    targets = [e.to for e in edges]
    if answer in targets:
        return answer
    number = re.search(r"\d+", answer)
    if number and 1 <= int(number.group()) <= len(edges):
        return targets[int(number.group()) - 1]
    named = [t for t in targets if t in answer]
    return max(named, key=len) if named else None      # "ask_dates_again" over "ask_dates"


async def route(model: ChatModel, procedure: Procedure, edges: Sequence[Edge], turns: Sequence[Turn], *,
                seed: int | None, trial: int = 0) -> RouteDecision:
    """Classify which edge holds; an unparsable answer takes the first edge (and says so)."""
    result = await model.generate(route_request(procedure, edges, turns, seed=seed, trial=trial))
    target = parse_route(result.text, edges)
    return RouteDecision(target or edges[0].to, result.usage, parsed=target is not None,
                         constrained=result.constrained)
