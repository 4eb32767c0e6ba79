"""The small base model driven by an explicit flowchart orchestrator (paper §3, condition 2).

The orchestrator tracks the current node, injects that node's prompt every turn (every
step's prompt, in order, when the turn is a chain of agent steps), and at a hub — an
agent-side decision included — asks the same model which edge's condition holds. Node prompts are rendered with the
scenario's variables, as in data generation: a deployed orchestrator would fill them from
its own slot state, so this favours the baseline (the gate's comparisons are conservative).
At a tool step the orchestrator makes the call and asks the model only for its arguments
(`harness.conditions.tools`); the tool's result, not the model, picks the next edge.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.backend import result_name
from harness.llm.base import ChatModel, ChatRequest, Hint, Usage
from harness.procedure import Edge, Procedure, Role
from harness.scenarios import Scenario
from harness.templates import render
from harness.transcript import Turn

from .base import AgentReply, Condition, ConditionSession, history_messages, reply_text
from .routing import route
from .tools import call_for_step
from .tracker import FlowchartTracker

# Every condition's reply cap (subterranean, in-context and LangGraph import it): one agent
# turn, not an essay. The longest agent turn in the travel training data is 83 tokens
# (SmolLM2 tokenizer; zoom and insurance are shorter), so the compiled model never needs
# more; the untrained base model in this condition otherwise rambles to the cap, and on the
# CPU its decoding and the re-reading of its long replies were most of the gate's time.
AGENT_MAX_TOKENS = 96

NODE_SYSTEM = (
    "{system_prompt}\n\nYou are at this step of the procedure: {title}.\n{instruction}\n"
    "Write only your next message to the customer."
)
CHAIN_SYSTEM = (
    "{system_prompt}\n\nYou are at these steps of the procedure; carry out each of them, in "
    "order, in this one message:\n{steps}\nWrite only your next message to the customer."
)


def chain_hint(procedure: Procedure, steps: Sequence[str], scenario: Scenario) -> Hint:
    """The offline model's hint for an agent turn: one step's examples, or one hint per step."""
    hints = tuple(Hint(task="turn", speaker="agent", node=n, examples=tuple(procedure.nodes[n].examples),
                       variables=scenario.context) for n in steps)
    return hints[0] if len(hints) == 1 else Hint(task="turn", speaker="agent", node=steps[-1], steps=hints)


def node_turn_request(procedure: Procedure, steps: Sequence[str], scenario: Scenario,
                      turns: Sequence[Turn]) -> ChatRequest:
    """The agent's request for one turn: its steps' prompts injected into the system prompt."""
    def title(n: str) -> str:
        return procedure.nodes[n].title or n

    def instruction(n: str) -> str:
        return render(procedure.nodes[n].prompt, scenario.context)

    if len(steps) == 1:
        system = NODE_SYSTEM.format(system_prompt=procedure.system_prompt, title=title(steps[0]),
                                    instruction=instruction(steps[0]))
    else:
        listed = "\n".join(f"{i}. {title(n)}: {instruction(n)}" for i, n in enumerate(steps, 1))
        system = CHAIN_SYSTEM.format(system_prompt=procedure.system_prompt, steps=listed)
    return ChatRequest(
        messages=history_messages(system, turns, opener=True), max_tokens=AGENT_MAX_TOKENS * len(steps),
        temperature=scenario.temperature, seed=agent_seed(scenario, turns), trial=scenario.trial,
        purpose="generation",
        hint=chain_hint(procedure, steps, scenario))


def agent_seed(scenario: Scenario, turns: Sequence[Turn]) -> int:
    return scenario.trial_seed("agent", scenario.seed, scenario.index, len(turns))


class OrchestratedSession(ConditionSession):
    def __init__(self, procedure: Procedure, model: ChatModel, scenario: Scenario) -> None:
        self.procedure, self.model, self.scenario = procedure, model, scenario
        self.tracker = FlowchartTracker(procedure)

    async def reply(self, turns: Sequence[Turn]) -> AgentReply:
        routing, unparsed, constrained = Usage(), 0, 0

        async def choose(hub: str, edges: list[Edge], _text: str) -> str:
            nonlocal routing, unparsed, constrained
            decision = await route(self.model, self.procedure, edges, turns,
                                   seed=self.scenario.trial_seed("route", self.scenario.index, len(turns), hub),
                                   trial=self.scenario.trial)
            routing = routing + decision.usage
            unparsed += not decision.parsed
            constrained += decision.constrained
            return decision.target

        if turns and turns[-1].speaker == "tool":     # the tool answered: its result picks the edge
            steps, picked = await self.tracker.after_tool(result_name(turns[-1].text), choose)
            unparsed += not picked
        elif not turns:
            steps = await self.tracker.start(choose)
        else:
            user_node, chain = await self.tracker.advance(turns[-1].text, choose)
            if chain is None:       # the customer's step ended the conversation
                return AgentReply(text="", node=user_node, terminal=user_node, routing=routing,
                                  unparsed_routes=unparsed, constrained_routes=constrained)
            steps = chain
        node = steps[-1]
        if self.procedure.nodes[node].role is Role.TOOL:   # the orchestrator calls; the model gives arguments
            call, usage, model, fallback = await call_for_step(self.model, self.procedure, node, self.scenario,
                                                               turns, seed=agent_seed(self.scenario, turns))
            return AgentReply(text="", node=node, tool_call=call, generation=usage, routing=routing, model=model,
                              unparsed_routes=unparsed, unparsed_tool_calls=int(fallback))
        result = await self.model.generate(node_turn_request(self.procedure, steps, self.scenario, turns))
        return AgentReply(text=reply_text(result), node=node, chain=steps[:-1],
                          terminal=node if self.procedure.nodes[node].terminal else None,
                          generation=result.usage, routing=routing, model=result.model,
                          unparsed_routes=unparsed, constrained_routes=constrained)


class OrchestratedCondition(Condition):
    name = "orchestrated"
    model_role = "base"
    reusable_after_edit = True
    default_model = "local:smollm2-135m"
    description = "the base model, one node prompt at a time, routed by the flowchart"

    def session(self, scenario: Scenario) -> OrchestratedSession:
        return OrchestratedSession(self.procedure, self.model, scenario)
