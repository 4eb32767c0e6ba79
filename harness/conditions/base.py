"""What every condition is: given the conversation so far, the next agent turn.

A `Condition` is built once per (procedure, model); `session(scenario)` gives the per-
conversation state (an orchestrator's current node). Sessions report generation and routing
usage apart, because the cost table needs both (paper §5).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import BaseModel, Field

from harness.llm.base import ChatModel, ChatResult, Message, ToolCall, Usage
from harness.procedure import Procedure
from harness.scenarios import Scenario
from harness.tool_format import turn_message
from harness.transcript import Turn

# Chat APIs want a user message first; when the agent opens the chat, this stands in for it.
OPENER = "(The customer has opened the chat and is waiting for the agent to speak first.)"


class AgentReply(BaseModel):
    text: str
    # Where an orchestrator believes the conversation is; None for self-orchestrating models.
    node: str | None = None
    chain: list[str] = Field(default_factory=list)   # earlier steps this one message carried out
    terminal: str | None = None              # set when `node` is a terminal: the conversation ends
    generation: Usage = Field(default_factory=Usage)
    routing: Usage = Field(default_factory=Usage)
    model: str = ""
    unparsed_routes: int = 0                 # router replies this turn that named no option
    constrained_routes: int = 0              # router replies this turn constrained to the options
    # The agent calls a tool instead of (or after) speaking `text`: the runner executes it
    # against the scenario's backend, appends the call and its result as turns, and asks the
    # session again before the customer speaks.
    tool_call: ToolCall | None = None
    unparsed_tool_calls: int = 0            # a tool call the model began but wrote unreadably


class ConditionSession(abc.ABC):
    """One conversation's agent side."""

    @abc.abstractmethod
    async def reply(self, turns: Sequence[Turn]) -> AgentReply: ...


ModelRole = Literal["compiled", "base", "frontier"]


class Condition(abc.ABC):
    """One evaluated condition. Its facts are class attributes, read without building it."""

    name: ClassVar[str]
    # Which model it runs on: the compiled checkpoint, the base model before compiling, or
    # the frontier model.
    model_role: ClassVar[ModelRole]
    # Whether its model reads only the prompts of the nodes it visits and the edges of the
    # hubs it passes, so that a conversation clear of an edit can be reused (gate --against).
    reusable_after_edit: ClassVar[bool] = False
    # The model `subterra run` / `chat` use when none is given; None: the compiled model.
    default_model: ClassVar[str | None]
    # The condition the report compares every other one with ("% of reference", Δ, cost ratio).
    is_reference: ClassVar[bool] = False
    description: ClassVar[str]

    def __init__(self, procedure: Procedure, model: ChatModel) -> None:
        self.procedure = procedure
        self.model = model

    @abc.abstractmethod
    def session(self, scenario: Scenario) -> ConditionSession: ...


def history_messages(system: str, turns: Sequence[Turn], *, opener: bool) -> tuple[Message, ...]:
    """System prompt, then the agent's turns as `assistant` and the customer's as `user`.

    `opener` puts a user message first (chat APIs require one) when the agent opened the
    chat; the compiled model is run without it, exactly as it was trained.
    """
    messages = [Message(role="system", content=system)]
    if opener and (not turns or turns[0].speaker == "agent"):   # a customer-opened chat needs none
        messages.append(Message(role="user", content=OPENER))
    # Tool calls and results in the compiled model's text convention (harness.tool_format).
    messages += [Message(**turn_message(t)) for t in turns]
    return tuple(messages)


def reply_text(result: ChatResult) -> str:
    return result.text.strip()
