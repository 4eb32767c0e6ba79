"""The procedure format as typed models: F = (nodes, edges, start, terminals).

These models check the shape of each field; the rules that relate fields to each other
(edges name existing nodes, reachability, hubs carry conditions ...) live in `validate.py`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from harness.llm.base import ToolSpec
from harness.spec_file import Sourced

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$")]


class Role(StrEnum):
    AGENT = "agent"
    USER = "user"
    # The agent calls one tool; the tool's result, not a model, picks the edge taken next.
    TOOL = "tool"


class TerminalKind(StrEnum):
    SUCCESS = "success"
    ABANDONED = "abandoned"
    ESCALATED = "escalated"


class Edge(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    to: Identifier = Field(description="the node this edge leads to")
    # The condition in words; routers (and the offline model) choose edges by it.
    when: str | None = Field(default=None, min_length=1,
                             description="the condition in words (every edge of an agent or customer hub has one)")
    # At a customer hub: what a customer says to take this branch (jinja2 templates for the
    # offline backend; they replace the node's examples on paths through this edge).
    examples: list[Annotated[str, StringConstraints(min_length=1)]] = Field(
        default_factory=list, description="only on a customer step's edges: what the customer says to take it")
    # At a tool step: the tool result that takes this edge (one of the tool's `results`).
    result: Identifier | None = Field(default=None, description="only on a tool step's edges: the tool result "
                                      "(one of the tool's `results`) that takes this edge")


class Tool(BaseModel):
    """A tool as the vendor tool-use APIs declare it, plus the results it can return."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1, description="what the tool does, as the model is told")
    # JSON Schema of the arguments (an object schema), as in Anthropic's `input_schema` and
    # OpenAI's `parameters`.
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}},
                                       description="JSON Schema of the arguments, type object (Anthropic's "
                                       "input_schema, OpenAI's parameters)")
    # What the tool can answer (the `result` field of its reply); a tool step's edges branch on these.
    results: list[Identifier] = Field(min_length=1, description="what the tool can answer (its reply's "
                                      "`result`); a tool step's edges branch on these")


class Node(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role = Field(description="agent: the agent speaks; user: the customer speaks; tool: the agent calls "
                       "`tool` and the result picks the edge")
    # Required for agent and customer steps; a tool step may describe itself (default: the
    # tool's description).
    prompt: str = ""
    # Utterance templates (jinja2) the offline model speaks this node with.
    examples: list[Annotated[str, StringConstraints(min_length=1)]] = Field(default_factory=list)
    next: Identifier | list[Edge] | None = None
    terminal: TerminalKind | None = None
    title: str | None = None
    # A tool step (role `tool`): the tool it calls, and its arguments as templates over the
    # scenario's variables (what the customer said). A template that is exactly `{{ name }}`
    # passes the variable's own value (an integer stays an integer).
    tool: Identifier | None = Field(default=None, description="role tool: the name of one of the procedure's `tools`")
    arguments: dict[str, Any] = Field(default_factory=dict, description="role tool: argument name -> value or "
                                      "jinja2 template over the scenario's variables (exactly '{{ x }}' keeps x's type)")

    @property
    def edges(self) -> list[Edge]:
        """Successors as edges, whichever way `next` was written."""
        if self.next is None:
            return []
        if isinstance(self.next, str):
            return [Edge(to=self.next)]
        return list(self.next)


class Procedure(Sourced):
    model_config = ConfigDict(extra="forbid")

    name: Identifier
    title: str = Field(min_length=1)
    description: str = ""
    # The ONLY prompt the compiled model sees at run time.
    system_prompt: str = Field(min_length=1)
    start: Identifier
    # Tools the agent can call (tool steps name them).
    tools: dict[Identifier, Tool] = Field(default_factory=dict, description="tools the agent can call, by name "
                                          "(tool steps name them; the scenario set's `backend` says how each behaves)")
    nodes: dict[Identifier, Node] = Field(min_length=1)
    def edges(self) -> list[tuple[str, str, str | None]]:
        """All edges as (source, target, condition), in file order."""
        return [(nid, e.to, e.when) for nid, node in self.nodes.items() for e in node.edges]

    def successors(self, node_id: str) -> list[str]:
        return [e.to for e in self.nodes[node_id].edges]

    def terminals(self) -> dict[str, TerminalKind]:
        return {nid: n.terminal for nid, n in self.nodes.items() if n.terminal is not None}

    def examples_toward(self, node_id: str, next_id: str | None) -> list[str]:
        """The offline example templates for a turn at `node_id` on a path that goes on to
        `next_id`: the edge's own examples when it has some, else the node's."""
        edge = next((e for e in self.nodes[node_id].edges if e.to == next_id), None)
        return list(edge.examples) if edge is not None and edge.examples else list(self.nodes[node_id].examples)

    def tool_specs(self) -> tuple[ToolSpec, ...]:
        """The procedure's tools as chat-request tool declarations, in file order."""
        return tuple(self.tool_spec(name) for name in self.tools)

    def tool_spec(self, name: str) -> ToolSpec:
        """One declared tool as a chat-request tool declaration (KeyError: no such tool)."""
        tool = self.tools[name]
        return ToolSpec(name=name, description=tool.description, parameters=tool.parameters)

    def result_edge(self, node_id: str, result: str) -> str | None:
        """At a tool step: the node its `result` leads to (None: no edge takes that result)."""
        node = self.nodes[node_id]
        if len(node.edges) == 1 and node.edges[0].result is None:
            return node.edges[0].to          # one plain edge: every result goes on there
        return next((e.to for e in node.edges if e.result == result), None)

    def hubs(self) -> list[str]:
        """Decision hubs: nodes with more than one successor."""
        return [nid for nid, n in self.nodes.items() if len(n.edges) > 1]
