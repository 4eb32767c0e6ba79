"""Where a conversation is on the flowchart, advanced one customer message at a time.

Agent and user turns alternate, so after the agent speaks at node A the customer's message
realises one of A's successors (a user node U), and the agent then speaks at one of U's
successors. At each of those two steps with more than one edge, `choose` picks the edge.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from harness.procedure import Edge, Procedure

# (hub node id, its edges, the customer's latest message) -> the chosen edge's target
Chooser = Callable[[str, list[Edge], str], Awaitable[str]]


class FlowchartTracker:
    def __init__(self, procedure: Procedure) -> None:
        self.procedure = procedure
        self.agent_node: str | None = None       # the node of the agent's latest turn

    def start(self) -> str:
        self.agent_node = self.procedure.start
        return self.agent_node

    async def advance(self, user_text: str, choose: Chooser) -> tuple[str, str | None]:
        """Move past the customer's message; returns (user node, next agent node).

        The next agent node is None when the customer's step is itself a terminal (the
        customer leaves): the conversation is over and the agent has nothing to say.
        """
        if self.agent_node is None:
            raise RuntimeError("the tracker has not started: the agent speaks first")
        user_node = await self._step(self.agent_node, user_text, choose)
        if self.procedure.nodes[user_node].terminal:
            self.agent_node = None
            return user_node, None
        self.agent_node = await self._step(user_node, user_text, choose)
        return user_node, self.agent_node

    async def _step(self, node_id: str, text: str, choose: Chooser) -> str:
        edges = self.procedure.nodes[node_id].edges
        if not edges:
            raise RuntimeError(f"node '{node_id}' is a terminal: the conversation has ended")
        return edges[0].to if len(edges) == 1 else await choose(node_id, edges, text)
