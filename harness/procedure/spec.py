"""The procedure format as typed models: F = (nodes, edges, start, terminals).

These models check the shape of each field; the rules that relate fields to each other
(edges name existing nodes, reachability, hubs carry conditions ...) live in `validate.py`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from harness.spec_file import Sourced

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$")]


class Role(StrEnum):
    AGENT = "agent"
    USER = "user"


class TerminalKind(StrEnum):
    SUCCESS = "success"
    ABANDONED = "abandoned"
    ESCALATED = "escalated"


class Edge(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    to: Identifier
    # The condition in words; routers (and the offline model) choose edges by it.
    when: str | None = Field(default=None, min_length=1)
    # At a customer hub: what a customer says to take this branch (jinja2 templates for the
    # offline backend; they replace the node's examples on paths through this edge).
    examples: list[Annotated[str, StringConstraints(min_length=1)]] = Field(default_factory=list)


class Node(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    prompt: str = Field(min_length=1)
    # Utterance templates (jinja2) the offline model speaks this node with.
    examples: list[Annotated[str, StringConstraints(min_length=1)]] = Field(default_factory=list)
    next: Identifier | list[Edge] | None = None
    terminal: TerminalKind | None = None
    title: str | None = None

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

    def hubs(self) -> list[str]:
        """Decision hubs: nodes with more than one successor."""
        return [nid for nid, n in self.nodes.items() if len(n.edges) > 1]
