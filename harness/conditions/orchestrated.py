"""The small base model driven by an explicit flowchart orchestrator (paper §3, condition 2).

The orchestrator tracks the current node, injects that node's prompt every turn, and at a
hub asks the same model which edge's condition holds. Node prompts are rendered with the
scenario's variables, as in data generation: a deployed orchestrator would fill them from
its own slot state, so this favours the baseline (the gate's comparisons are conservative).
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.llm.base import ChatModel, ChatRequest, Hint, Usage
from harness.procedure import Edge, Procedure
from harness.scenarios import Scenario
from harness.seeds import stable_int
from harness.templates import render
from harness.transcript import Turn

from .base import AgentReply, Condition, ConditionSession, history_messages, reply_text
from .routing import route
from .tracker import FlowchartTracker

AGENT_MAX_TOKENS = 200

NODE_SYSTEM = (
    "{system_prompt}\n\nYou are at this step of the procedure: {title}.\n{instruction}\n"
    "Write only your next message to the customer."
)


def node_turn_request(procedure: Procedure, node_id: str, scenario: Scenario,
                      turns: Sequence[Turn]) -> ChatRequest:
    """The agent's request at `node_id`: the node's prompt injected into the system prompt."""
    node = procedure.nodes[node_id]
    system = NODE_SYSTEM.format(system_prompt=procedure.system_prompt, title=node.title or node_id,
                                instruction=render(node.prompt, scenario.context))
    return ChatRequest(
        messages=history_messages(system, turns, opener=True), max_tokens=AGENT_MAX_TOKENS,
        temperature=0.0, seed=agent_seed(scenario, turns), purpose="generation",
        hint=Hint(task="turn", speaker="agent", node=node_id, examples=tuple(node.examples),
                  variables=scenario.context))


def agent_seed(scenario: Scenario, turns: Sequence[Turn]) -> int:
    return stable_int("agent", scenario.seed, scenario.index, len(turns))


class OrchestratedSession(ConditionSession):
    def __init__(self, procedure: Procedure, model: ChatModel, scenario: Scenario) -> None:
        self.procedure, self.model, self.scenario = procedure, model, scenario
        self.tracker = FlowchartTracker(procedure)
        self.unparsed_routes = 0

    async def reply(self, turns: Sequence[Turn]) -> AgentReply:
        routing = Usage()

        async def choose(hub: str, edges: list[Edge], _text: str) -> str:
            nonlocal routing
            decision = await route(self.model, self.procedure, edges, turns,
                                   seed=stable_int("route", self.scenario.index, len(turns), hub))
            routing = routing + decision.usage
            self.unparsed_routes += not decision.parsed
            return decision.target

        if not turns:
            node = self.tracker.start()
        else:
            user_node, node = await self.tracker.advance(turns[-1].text, choose)
            if node is None:       # the customer's step ended the conversation
                return AgentReply(text="", node=user_node, terminal=user_node, routing=routing)
        result = await self.model.generate(node_turn_request(self.procedure, node, self.scenario, turns))
        return AgentReply(text=reply_text(result), node=node, terminal=node if self.procedure.nodes[node].terminal
                          else None, generation=result.usage, routing=routing, model=result.model)


class OrchestratedCondition(Condition):
    name = "orchestrated"
    model_role = "base"
    reusable_after_edit = True
    default_model = "local:smollm2-135m"
    description = "the base model, one node prompt at a time, routed by the flowchart"

    def session(self, scenario: Scenario) -> OrchestratedSession:
        return OrchestratedSession(self.procedure, self.model, scenario)
