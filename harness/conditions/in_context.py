"""The frontier model with the whole flowchart in its system prompt (paper §3, condition 4).

One call per turn; the model orchestrates itself. Real models see only the messages. The
offline stand-in cannot read a flowchart, so its request also carries a hint naming the node
a shadow tracker believes the conversation is at (routed lexically, no model call, not
billed): offline, this condition is an orchestrator in disguise — a documented limitation.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.llm.base import ChatModel, ChatRequest, Hint
from harness.llm.offline import choose_option
from harness.procedure import Edge, Procedure, Role
from harness.scenarios import Scenario
from harness.transcript import Turn

from .base import AgentReply, Condition, ConditionSession, history_messages, reply_text
from .orchestrated import AGENT_MAX_TOKENS, agent_seed
from .routing import option_texts
from .tracker import FlowchartTracker

IN_CONTEXT_SYSTEM = (
    "{system_prompt}\n\nFollow this procedure exactly. It is a flowchart: each step is one turn, "
    "spoken by you (agent) or by the customer; after each customer message decide which step "
    "comes next from the conditions, and speak that step. Never mention the flowchart.\n\n"
    "{flowchart}\n\nWrite only your next message to the customer."
)


def serialize_flowchart(procedure: Procedure) -> str:
    """The procedure as plain text: every step with its role, instructions and next steps."""
    lines = [f"Procedure: {procedure.title}", procedure.description.strip(), f"First step: {procedure.start}", ""]
    for node_id, node in procedure.nodes.items():
        who = "agent" if node.role is Role.AGENT else "customer"
        kind = f", ends the conversation: {node.terminal.value}" if node.terminal else ""
        lines.append(f"[{node_id}] ({who}{kind}) {node.title or ''}".rstrip())
        lines.append(f"  {node.prompt.strip()}")
        for edge in node.edges:
            lines.append(f"  -> {edge.to}" + (f" if {edge.when}" if edge.when else ""))
    return "\n".join(line for line in lines if line is not None)


class InContextSession(ConditionSession):
    def __init__(self, procedure: Procedure, model: ChatModel, scenario: Scenario, system: str) -> None:
        self.procedure, self.model, self.scenario, self.system = procedure, model, scenario, system
        self.shadow = FlowchartTracker(procedure)
        self._last_agent_node = procedure.start

    async def reply(self, turns: Sequence[Turn]) -> AgentReply:
        if not turns:
            node_id = self.shadow.start()
        elif self.shadow.agent_node is None or self.procedure.nodes[self.shadow.agent_node].terminal:
            node_id = self._last_agent_node          # past the end: the customer talks on
        else:
            _, next_node = await self.shadow.advance(turns[-1].text, self._lexical_choice)
            node_id = next_node or self._last_agent_node
        self._last_agent_node = node_id
        node = self.procedure.nodes[node_id]
        request = ChatRequest(
            messages=history_messages(self.system, turns, opener=True), max_tokens=AGENT_MAX_TOKENS,
            temperature=0.0, seed=agent_seed(self.scenario, turns), purpose="generation",
            hint=Hint(task="turn", speaker="agent", node=node_id, examples=tuple(node.examples),
                      variables=self.scenario.context))
        result = await self.model.generate(request)
        # The model orchestrates itself: no node is claimed, the simulated customer ends the chat.
        return AgentReply(text=reply_text(result), generation=result.usage, model=result.model)


    async def _lexical_choice(self, _hub: str, edges: list[Edge], text: str) -> str:
        return choose_option(text, option_texts(self.procedure, edges))


class InContextCondition(Condition):
    name = "in_context"
    model_role = "frontier"
    default_model = "offline"
    description = "the frontier model with the whole flowchart in its prompt"

    def __init__(self, procedure: Procedure, model: ChatModel) -> None:
        super().__init__(procedure, model)
        self.system = IN_CONTEXT_SYSTEM.format(system_prompt=procedure.system_prompt,
                                               flowchart=serialize_flowchart(procedure))

    def session(self, scenario: Scenario) -> InContextSession:
        return InContextSession(self.procedure, self.model, scenario, self.system)
