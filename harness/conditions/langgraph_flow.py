"""A LangGraph orchestrator on the frontier model (paper §3, condition 3).

The procedure becomes a real `StateGraph`: one graph node per flowchart node, plus a
`(speak)` node. One `ainvoke` plays one agent turn: from START a conditional edge goes to
the start node (first turn, whoever opens) or to the user node the customer's message
realises (classified among the customer steps after the agent's last step); user nodes
pass to their successor (classified at user hubs, `add_conditional_edges` with an explicit
path map); an agent node adds itself to the turn's steps and passes on to the next agent
step (classified at an agent-side decision, whose customer branches lead to `(speak)`), or
to `(speak)`, which calls the model once with every step's prompt (one message for the
chain) and ends the graph, to wait for the customer. The module is not called `langgraph` so that it cannot shadow it.

A tool step (procedures that act, issue 22) is langgraph's tool-calling pattern with the
execution left to our runner: its graph node calls the model bound to the step's tool (the
tool declared through the vendor's tool use, `tool_choice` that tool) and leaves the reply
as an `AIMessage` under `messages`; `add_conditional_edges(step, tools_condition, ...)` —
langgraph's own router — ends the graph when the message carries the call, which goes to
the runner as `AgentReply.tool_call` (the graph never runs a `ToolNode`). The runner
executes it and asks again: the next `ainvoke` enters at the step's `(result)` node, whose
conditional edges map the tool's result onto the step's edges (a path map keyed by target),
so the result, not a model, picks the branch. A model that answers without calling is asked
again at the next turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

# langgraph resolves the nodes' type hints, so this one stays at module level; it loads
# neither langgraph nor langsmith.
from langchain_core.runnables import RunnableConfig

from harness.backend import result_name
from harness.llm.base import ChatModel, ChatRequest, ToolCall, Usage
from harness.procedure import Edge, Procedure, Role
from harness.scenarios import Scenario
from harness.templates import render
from harness.transcript import Turn

from .base import AgentReply, Condition, ConditionSession, reply_text
from .frontier_tools import first_call, native_history
from .orchestrated import AGENT_MAX_TOKENS, agent_seed, node_turn_request
from .routing import route
from .tools import tool_hint

SPEAK = "(speak)"    # not a valid node id, so it cannot collide with one
TOOL_STEP_SYSTEM = (
    "{system_prompt}\n\nCurrent step: {title}. {instruction}\nCall the tool `{tool}` now, with the "
    "arguments taken from what the customer said."
)


def _result_node(tool_step: str) -> str:
    return f"({tool_step} result)"      # not a valid node id either


def _is_tool_step(procedure: Procedure, node_id: str) -> bool:
    return procedure.nodes[node_id].role.value == "tool"


class TurnState(TypedDict, total=False):
    turns: list[Turn]               # the conversation so far
    last_agent: str | None          # last step of the agent's previous turn (None: first turn)
    steps: list[str]                # agent steps this turn carries out, in order
    node: str                       # node of the agent's new turn (its last step)
    reply: str
    messages: list[Any]             # a tool step's model reply (an AIMessage), for tools_condition
    tool_call: ToolCall | None      # the call the runner is to execute


def _session(config: RunnableConfig) -> LangGraphSession:
    return config["configurable"]["session"]


def build_graph(procedure: Procedure) -> Any:
    """The compiled LangGraph graph of `procedure` (shared by all conversations)."""
    # Imported here: reading the condition's facts (`subterra gate --against`'s preview runs
    # before pytest starts) must not load langgraph and, through it, its pytest plugins.
    from langgraph.graph import END, START, StateGraph

    graph = StateGraph(TurnState)
    graph.add_node(SPEAK, _speak)
    graph.add_edge(SPEAK, END)
    is_agent = {nid: node.role is Role.AGENT for nid, node in procedure.nodes.items()}

    for node_id, node in procedure.nodes.items():
        if _is_tool_step(procedure, node_id):
            from langgraph.prebuilt import tools_condition

            graph.add_node(node_id, _tool_step(node_id))
            # langgraph's router: a reply with a call ends the turn (the runner executes it);
            # without one too (the model is asked again next turn).
            graph.add_conditional_edges(node_id, tools_condition, {"tools": END, END: END})
            graph.add_node(_result_node(node_id), _tool_result)
            graph.add_conditional_edges(_result_node(node_id), _by_result(node_id),
                                        {e.to: e.to for e in node.edges})
        elif node.role is Role.AGENT:
            graph.add_node(node_id, _agent_step(node_id))
            agent_edges = [e for e in node.edges if is_agent[e.to]]
            if not agent_edges:          # the turn ends here: speak, then wait for the customer
                graph.add_edge(node_id, SPEAK)
            elif len(node.edges) == 1:   # the chain goes on in the same message
                graph.add_edge(node_id, node.edges[0].to)
            else:                        # an agent-side decision: a customer step ends the turn
                graph.add_conditional_edges(node_id, _classifier(node_id),
                                            {e.to: e.to if is_agent[e.to] else SPEAK for e in node.edges})
        else:
            graph.add_node(node_id, _user_step(node_id, ended=bool(node.terminal)))
            if node.terminal:
                graph.add_edge(node_id, END)
            elif len(node.edges) == 1:
                graph.add_edge(node_id, node.edges[0].to)
            else:
                graph.add_conditional_edges(node_id, _classifier(node_id), {e.to: e.to for e in node.edges})

    after_agent = {e.to for n in procedure.nodes.values() if n.role is Role.AGENT for e in n.edges
                   if not is_agent[e.to]}
    tool_steps = sorted(n for n in procedure.nodes if _is_tool_step(procedure, n))
    entries = [procedure.start, *sorted(after_agent - {procedure.start}), *tool_steps,
               *(_result_node(n) for n in tool_steps)]
    graph.add_conditional_edges(START, _entry, {n: n for n in dict.fromkeys(entries)})
    return graph.compile(name=f"{procedure.name}-orchestrator")


def _agent_step(node_id: str):
    def step(state: TurnState) -> dict:
        return {"steps": [*state.get("steps", []), node_id]}
    step.__name__ = f"agent_{node_id}"
    return step


async def _speak(state: TurnState, config: RunnableConfig) -> dict:
    steps = state["steps"]
    return {"node": steps[-1], "reply": await _session(config).speak(steps, state["turns"])}


def _user_step(node_id: str, *, ended: bool):
    def heard(state: TurnState) -> dict:
        # The customer's turn is already in `turns` and routing happens on the edges; a
        # customer terminal (they leave) ends the conversation with no agent reply.
        return {"node": node_id, "reply": ""} if ended else {}
    heard.__name__ = f"user_{node_id}"
    return heard


def _tool_step(node_id: str):
    async def act(state: TurnState, config: RunnableConfig) -> dict:
        from langchain_core.messages import AIMessage

        text, call = await _session(config).act(node_id, state["turns"])
        tool_calls = [{"name": call.name, "args": call.arguments, "id": call.id, "type": "tool_call"}] if call else []
        return {"node": node_id, "steps": [], "reply": text, "tool_call": call,
                "messages": [AIMessage(content=text, tool_calls=tool_calls)]}
    act.__name__ = f"tool_{node_id}"
    return act


def _tool_result(state: TurnState) -> dict:
    return {}      # the routing happens on this node's edges


def _by_result(tool_step: str):
    async def pick(state: TurnState, config: RunnableConfig) -> str:
        procedure = _session(config).procedure
        target = procedure.result_edge(tool_step, result_name(state["turns"][-1].text) or "")
        # An error or unknown result takes the step's last edge: its failure branch by convention.
        return target or procedure.nodes[tool_step].edges[-1].to
    return pick


def _classifier(hub: str):
    async def classify(state: TurnState, config: RunnableConfig) -> str:
        return await _session(config).classify(hub, state["turns"])
    return classify


async def _entry(state: TurnState, config: RunnableConfig) -> str:
    session = _session(config)
    procedure = session.procedure
    last = state.get("last_agent")
    if last is None:       # the first turn: the agent opens, or the customer's opening message
        return procedure.start
    if _is_tool_step(procedure, last):
        # The runner executed the call: its result picks the edge. No call was made: ask again.
        return _result_node(last) if state["turns"] and state["turns"][-1].speaker == "tool" else last
    edges = [e for e in procedure.nodes[last].edges if procedure.nodes[e.to].role is Role.USER]
    return edges[0].to if len(edges) == 1 else await session.classify(last, state["turns"], edges)


class LangGraphSession(ConditionSession):
    def __init__(self, condition: LangGraphCondition, scenario: Scenario) -> None:
        self.procedure, self.model, self.graph = condition.procedure, condition.model, condition.graph
        self.scenario = scenario
        self.last_agent: str | None = None
        self._unparsed = self._constrained = 0
        self._generation = Usage()
        self._routing = Usage()
        self._model_id = ""

    async def reply(self, turns: Sequence[Turn]) -> AgentReply:
        self._generation, self._routing, self._unparsed, self._constrained = Usage(), Usage(), 0, 0
        state = await self.graph.ainvoke({"turns": list(turns), "last_agent": self.last_agent, "steps": []},
                                         config={"configurable": {"session": self}})
        node, steps = state["node"], state["steps"]
        self.last_agent = node
        return AgentReply(text=state["reply"], node=node, chain=steps[:-1],
                          terminal=node if self.procedure.nodes[node].terminal else None,
                          generation=self._generation, routing=self._routing, model=self._model_id,
                          unparsed_routes=self._unparsed, constrained_routes=self._constrained,
                          tool_call=state.get("tool_call"))

    async def act(self, node_id: str, turns: Sequence[Turn]) -> tuple[str, ToolCall | None]:
        """A tool step: the model bound to the step's tool (declared through the vendor's tool
        use, `tool_choice` that tool). Returns what it said and the call it made, if any."""
        node = self.procedure.nodes[node_id]
        spec = self.procedure.tool_spec(node.tool or "")
        system = TOOL_STEP_SYSTEM.format(system_prompt=self.procedure.system_prompt, title=node.title or node_id,
                                         instruction=render(node.prompt or "", self.scenario.context).strip(),
                                         tool=spec.name)
        result = await self.model.generate(ChatRequest(
            messages=native_history(system, turns, opener=True), max_tokens=AGENT_MAX_TOKENS,
            temperature=self.scenario.temperature, seed=agent_seed(self.scenario, turns), trial=self.scenario.trial,
            purpose="generation", tools=(spec,), tool_choice=spec.name,
            hint=tool_hint(self.procedure, node_id, self.scenario)))
        self._generation = self._generation + result.usage
        self._model_id = result.model
        return reply_text(result), first_call(result)

    async def speak(self, steps: Sequence[str], turns: Sequence[Turn]) -> str:
        result = await self.model.generate(node_turn_request(self.procedure, steps, self.scenario, turns))
        self._generation = self._generation + result.usage
        self._model_id = result.model
        return reply_text(result)

    async def classify(self, hub: str, turns: Sequence[Turn], edges: Sequence[Edge] | None = None) -> str:
        edges = self.procedure.nodes[hub].edges if edges is None else edges
        decision = await route(self.model, self.procedure, edges, turns, seed=self.scenario.trial_seed("route", self.scenario.index, len(turns), hub),
                               trial=self.scenario.trial)
        self._routing = self._routing + decision.usage
        self._unparsed += not decision.parsed
        self._constrained += decision.constrained
        return decision.target


class LangGraphCondition(Condition):
    name = "langgraph"
    model_role = "frontier"
    reusable_after_edit = True
    default_model = "offline"
    description = "a LangGraph StateGraph of the flowchart orchestrates the frontier model"

    def __init__(self, procedure: Procedure, model: ChatModel) -> None:
        super().__init__(procedure, model)
        self.graph = build_graph(procedure)

    def session(self, scenario: Scenario) -> LangGraphSession:
        return LangGraphSession(self, scenario)
