"""Turns: what one message of a conversation covers on the flowchart.

A *turn* is one message. A customer node is one customer message. A run of agent nodes
between two customer turns (a *chain*: "I can help; first I must verify you" then "I've
sent a code, please read it to me") is ONE agent message that carries out each step in
order. Chat templates (SmolLM2, Qwen2.5, Qwen3) were tuned on strictly alternating
user/assistant messages (a second assistant message with no user message between is a
generation prompt they never saw), chat APIs expect it, and the simulated customer answers
each agent message; one message per chain keeps every conversation in that shape.

An agent node with an edge to another agent node and more than one edge is an *agent-side
decision*: the agent takes it from the conversation so far, before the customer speaks
again (orchestrators route it with their classifier; data follows the scenario's path).
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.procedure.spec import Procedure, Role

TurnSteps = tuple[str, ...]


def turn_groups(procedure: Procedure, path: Sequence[str]) -> list[TurnSteps]:
    """`path` split into turns: maximal runs of consecutive agent steps, and every other
    node on its own (a tool step is its call and its result)."""
    groups: list[list[str]] = []
    for node in path:
        if groups and same_turn(procedure, groups[-1][-1], node):
            groups[-1].append(node)
        else:
            groups.append([node])
    return [tuple(g) for g in groups]


def same_turn(procedure: Procedure, src: str, dst: str) -> bool:
    """Whether the edge src -> dst stays inside one turn (agent step to agent step)."""
    return procedure.nodes[src].role is procedure.nodes[dst].role is Role.AGENT


def is_agent_decision(procedure: Procedure, node_id: str) -> bool:
    """An agent node that chooses among edges one of which continues its own turn."""
    node = procedure.nodes[node_id]
    return (node.role is Role.AGENT and len(node.edges) > 1
            and any(procedure.nodes[e.to].role is Role.AGENT for e in node.edges))


def chain_toward(procedure: Procedure, path: Sequence[str], position: int) -> str | None:
    """The condition the conversation heads for right after the turn ending at `path[position]`.

    The next decision on the path that the customer's words settle: the node's own hub
    edge, else the first agent-side decision in the agent turn that follows (the agent
    decides from what the customer just said). None when the path takes no decision there.
    """
    for i in range(position, len(path) - 1):
        node = procedure.nodes[path[i]]
        if i > position and node.role is not Role.AGENT:
            return None
        if len(node.edges) > 1 and (i == position or is_agent_decision(procedure, path[i])):
            return next(e.when for e in node.edges if e.to == path[i + 1])
    return None


def format_path(procedure: Procedure, path: Sequence[str]) -> str:
    """A path as its turns: `a → b + c → d`, where `b + c` is one agent message."""
    return " → ".join(" + ".join(group) for group in turn_groups(procedure, path))
