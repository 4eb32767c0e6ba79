"""The one interface every model call goes through.

A caller builds a `ChatRequest`, hands it to a `ChatModel` (see `harness.llm.get_model`),
and gets a `ChatResult` back. Providers implement `ChatModel.generate`; caching, retries,
rate limits and usage accounting wrap providers once (they are not the provider's job).
"""

from __future__ import annotations

import abc
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant", "tool"]


class ToolSpec(BaseModel):
    """A tool as the vendor tool-use APIs declare it: name, description, JSON-Schema parameters."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ToolCall(BaseModel):
    """One call of a tool by a model: which tool, with which arguments."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Message(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: Role
    content: str
    # An assistant message that calls tools (its `content` may be empty).
    tool_calls: tuple[ToolCall, ...] = Field(default=(), exclude_if=lambda calls: not calls)
    # A `tool` message: the call whose result `content` holds (JSON text).
    tool_call_id: str | None = Field(default=None, exclude_if=lambda value: value is None)


class OutputSchema(BaseModel):
    """The shape a reply must have: a JSON Schema, or exactly one of named choices.

    Providers enforce it the vendor's native way (OpenAI structured outputs, Anthropic forced
    tool use, constrained decoding for local models) and say so in `ChatResult.constrained`;
    callers still parse the text, and keep their repair path for providers that cannot.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    json_schema: dict[str, Any] | None = None
    choices: tuple[str, ...] = ()


class Hint(BaseModel):
    """Structured context a caller attaches for the offline model (and for cache keys).

    Real providers ignore hints: they only see `messages`. The offline model has no
    language ability of its own, so callers tell it what part it plays and give it the
    material (example templates, scenario variables, routing options) to play it from.
    """

    model_config = ConfigDict(frozen=True)

    task: Literal["turn", "route", "judge"]
    # "turn": speak one turn as the agent or user of a procedure node.
    speaker: Literal["agent", "user"] | None = None
    node: str | None = None
    examples: tuple[str, ...] = ()          # jinja2 templates to render with `variables`
    variables: dict[str, Any] = Field(default_factory=dict)
    # At a decision hub: the branch this turn leads to (an edge's `when`); the offline model
    # speaks the example closest to it, so the words match the path the data follows.
    toward: str | None = None
    # A turn that carries out a chain of agent steps in one message: one hint per step,
    # in order (the offline model speaks each and joins them).
    steps: tuple[Hint, ...] = Field(default=(), exclude_if=lambda steps: not steps)
    # "route": choose one option; each option carries texts that describe it.
    options: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    # "judge": the offline judge derives scores from a precomputed trace verdict.
    verdict: dict[str, Any] = Field(default_factory=dict)
    # A tool step: the tool this turn calls and its arguments, templates over `variables`. The
    # offline model answers a request that carries `tools` with this call (ChatResult.tool_calls).
    tool: str | None = Field(default=None, exclude_if=lambda value: value is None)
    arguments: dict[str, Any] = Field(default_factory=dict, exclude_if=lambda value: not value)


class ChatRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    messages: tuple[Message, ...]
    max_tokens: int = 512
    temperature: float = 0.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    # Repeated trials of the same request are distinct calls (and distinct cache entries).
    trial: int = 0
    hint: Hint | None = None
    # Free-form label for logs and the cost table, e.g. "generation" or "routing".
    purpose: str = "generation"
    # Tools the model may call; `tool_choice` is "auto", "required", "none" or one tool's name.
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: str = "auto"
    # The reply's required shape (None: free text).
    output: OutputSchema | None = None


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            calls=self.calls + other.calls,
        )


class ChatResult(BaseModel):
    text: str
    usage: Usage
    model: str                      # the concrete model id; contains "offline" for offline results
    latency_s: float = 0.0
    cached: bool = False
    # The tools the model called (empty: it only spoke).
    tool_calls: tuple[ToolCall, ...] = Field(default=(), exclude_if=lambda calls: not calls)
    # The provider enforced `request.output` natively (so a parse failure is the provider's bug).
    constrained: bool = Field(default=False, exclude_if=lambda value: not value)


class ChatModel(abc.ABC):
    """A model that answers chat requests. Async: scripts call it through `asyncio.run`."""

    name: str

    @abc.abstractmethod
    async def generate(self, request: ChatRequest) -> ChatResult: ...

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections or weights; default does nothing."""
