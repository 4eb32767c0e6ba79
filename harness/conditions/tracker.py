"""Where a conversation is on the flowchart, advanced one customer message at a time.

A customer message realises one customer node: a successor of the node the agent's last
turn ended at (or `start`, when the customer opens the chat). The agent then answers with
one turn that may carry out a chain of agent steps (`harness.procedure.turns`): from the
customer node's successor it follows agent-to-agent edges; at an agent-side decision
`choose` picks the edge from the conversation so far, and picking a customer step ends the
agent's turn there (which customer step it is, is read from the customer's reply). At each
other step with more than one edge, `choose` picks the edge too.

A tool step is a turn of its own: when the agent's steps reach one, they stop there (the
agent calls the tool); `after_tool` then follows the edge the tool's result picks — never a
model's guess — to the next tool step or the agent's next chain.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from harness.procedure import Edge, Procedure, Role

# (hub node id, its edges, the customer's latest message) -> the chosen edge's target
Chooser = Callable[[str, list[Edge], str], Awaitable[str]]


class FlowchartTracker:
    def __init__(self, procedure: Procedure) -> None:
        self.procedure = procedure
        self.agent_node: str | None = None       # the last step of the agent's latest turn
        self.started = False

    @property
    def customer_opens(self) -> bool:
        return self.procedure.nodes[self.procedure.start].role is Role.USER

    async def start(self, choose: Chooser) -> list[str]:
        """The agent's opening turn (its chain of steps), when the agent opens the chat."""
        if self.customer_opens:
            raise RuntimeError(f"the customer opens this procedure (start '{self.procedure.start}' is a customer step)")
        self.started = True
        return await self._chain(self.procedure.start, "", choose)

    async def advance(self, user_text: str, choose: Chooser) -> tuple[str, list[str] | None]:
        """Move past the customer's message; returns (user node, the agent turn's steps).

        The agent's steps are None when the customer's step is itself a terminal (the
        customer leaves): the conversation is over and the agent has nothing to say.
        """
        if not self.started and self.customer_opens:
            user_node = self.procedure.start
        elif self.agent_node is None:
            raise RuntimeError("the tracker has not started: the agent speaks first")
        else:
            user_node = await self._step(self.agent_node, user_text, choose, Role.USER)
        self.started = True
        if self.procedure.nodes[user_node].terminal:
            self.agent_node = None
            return user_node, None
        entry = await self._step(user_node, user_text, choose, Role.AGENT)
        return user_node, await self._chain(entry, user_text, choose)

    @property
    def at_tool(self) -> str | None:
        """The tool step the agent's latest turn stopped at (its call is due), else None."""
        node = self.agent_node
        return node if node is not None and self.procedure.nodes[node].role is Role.TOOL else None

    async def after_tool(self, result: str | None, choose: Chooser) -> tuple[list[str], bool]:
        """The agent's next steps after the tool step's `result`, and whether the result picked
        an edge (False: an error or unknown result; the step's LAST edge is taken, the
        failure branch by the format's convention, never the success path on a failed call)."""
        node = self.at_tool
        if node is None:
            raise RuntimeError("after_tool: the conversation is not at a tool step")
        target = self.procedure.result_edge(node, result) if result is not None else None
        picked = target is not None
        return await self._chain(target or self.procedure.nodes[node].edges[-1].to, "", choose), picked

    async def _chain(self, entry: str, text: str, choose: Chooser) -> list[str]:
        """The agent steps spoken in one turn from `entry`, taking agent-side decisions; a tool
        step is a turn alone."""
        if self.procedure.nodes[entry].role is Role.TOOL:
            self.agent_node = entry
            return [entry]
        steps = [entry]
        while True:
            edges = self.procedure.nodes[steps[-1]].edges
            if not any(self.procedure.nodes[e.to].role is Role.AGENT for e in edges):
                break
            target = edges[0].to if len(edges) == 1 else await choose(steps[-1], edges, text)
            if self.procedure.nodes[target].role is not Role.AGENT:
                break                            # the agent hands the turn to the customer here
            steps.append(target)
        self.agent_node = steps[-1]
        return steps

    async def _step(self, node_id: str, text: str, choose: Chooser, role: Role) -> str:
        sides = {role, Role.TOOL} if role is Role.AGENT else {role}     # a tool step is the agent's
        edges = [e for e in self.procedure.nodes[node_id].edges if self.procedure.nodes[e.to].role in sides]
        if not edges:
            raise RuntimeError(f"node '{node_id}' has no {role.value} step after it: the conversation has ended")
        return edges[0].to if len(edges) == 1 else await choose(node_id, edges, text)
