"""The frontier model with the whole flowchart in its system prompt (paper §3, condition 4).

One call per turn; the model orchestrates itself. Real models see only the messages. The
offline stand-in cannot read a flowchart, so its request also carries a hint naming the node
a shadow tracker believes the conversation is at (routed lexically, no model call, not
billed): offline, this condition is an orchestrator in disguise — a documented limitation.

A procedure's tools go to the model through the LLM layer as the vendor's tool declarations
(Anthropic and OpenAI tool use), the history carries earlier calls and results in the
vendor's shapes (`frontier_tools`), and a reply that calls a tool is handed back as
`AgentReply.tool_call` for the runner to execute; the model then reads the result and goes on.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.backend import result_name
from harness.llm.base import ChatModel, ChatRequest, Hint
from harness.llm.offline import choose_option
from harness.procedure import Edge, Procedure, Role, same_turn
from harness.scenarios import Scenario
from harness.transcript import Turn

from .base import AgentReply, Condition, ConditionSession, reply_text
from .frontier_tools import first_call, native_history
from .orchestrated import AGENT_MAX_TOKENS, agent_seed, chain_hint
from .routing import option_texts
from .tools import tool_hint
from .tracker import FlowchartTracker

IN_CONTEXT_SYSTEM = (
    "{system_prompt}\n\nFollow this procedure exactly. It is a flowchart: each step is one turn, "
    "spoken by you (agent) or by the customer; after each customer message decide which step "
    "comes next from the conditions, and speak that step.{chains} Never mention the flowchart.\n\n"
    "{flowchart}\n\nWrite only your next message to the customer.{tools}"
)
# Only for flowcharts with agent steps in a row, so strictly alternating ones read as before.
CHAINS = (
    " When your step leads straight to another of your own steps, carry them all out in the "
    "same message, in order, deciding between them from the conversation so far; stop where "
    "the customer's next step begins."
)


# Only for procedures with tools, so the prompts of those without read as before.
TOOLS = (
    " At a step that calls a tool, call it with the tool-use function (arguments from what the "
    "customer said) instead of writing a message; its result decides the next step."
)


def serialize_flowchart(procedure: Procedure) -> str:
    """The procedure as plain text: every step with its role, instructions and next steps."""
    opens = " (the customer opens the chat)" if procedure.nodes[procedure.start].role is Role.USER else ""
    lines = [f"Procedure: {procedure.title}", procedure.description.strip(), f"First step: {procedure.start}{opens}", ""]
    for node_id, node in procedure.nodes.items():
        who = "agent" if node.role is Role.AGENT else "customer"
        kind = f", ends the conversation: {node.terminal.value}" if node.terminal else ""
        lines.append(f"[{node_id}] ({who}{kind}) {node.title or ''}".rstrip())
        lines.append(f"  {node.prompt.strip()}")
        for edge in node.edges:
            same = same_turn(procedure, node_id, edge.to)
            lines.append(f"  -> {edge.to}" + (f" if {edge.when}" if edge.when else "")
                         + (" (in the same message)" if same else ""))
    return "\n".join(line for line in lines if line is not None)


class InContextSession(ConditionSession):
    def __init__(self, procedure: Procedure, model: ChatModel, scenario: Scenario, system: str) -> None:
        self.procedure, self.model, self.scenario, self.system = procedure, model, scenario, system
        self.shadow = FlowchartTracker(procedure)
        self._last_steps = [procedure.start]
        self.tools = procedure.tool_specs()

    async def reply(self, turns: Sequence[Turn]) -> AgentReply:
        if turns and turns[-1].speaker == "tool":
            # The shadow follows the edge the tool's result picks (the offline model's hint).
            steps, _ = await self.shadow.after_tool(result_name(turns[-1].text), self._lexical_choice)
        elif not turns:
            steps = await self.shadow.start(self._lexical_choice)
        elif self.shadow.started and (self.shadow.agent_node is None
                                      or self.procedure.nodes[self.shadow.agent_node].terminal):
            steps = self._last_steps                 # past the end: the customer talks on
        else:
            _, chain = await self.shadow.advance(turns[-1].text, self._lexical_choice)
            steps = chain or self._last_steps
        self._last_steps = steps
        request = ChatRequest(
            messages=native_history(self.system, turns, opener=True), max_tokens=AGENT_MAX_TOKENS,
            temperature=self.scenario.temperature, seed=agent_seed(self.scenario, turns),
            trial=self.scenario.trial, purpose="generation", hint=self._hint(steps), tools=self.tools)
        result = await self.model.generate(request)
        # The model orchestrates itself: no node is claimed, the simulated customer ends the chat;
        # a call it makes goes to the runner.
        return AgentReply(text=reply_text(result), generation=result.usage, model=result.model,
                          tool_call=first_call(result))

    def _hint(self, steps: list[str]) -> Hint:
        """The offline model's hint: the tool step's call where the shadow is at one, else the turn."""
        if self.procedure.nodes[steps[-1]].role is Role.TOOL:
            return tool_hint(self.procedure, steps[-1], self.scenario)
        return chain_hint(self.procedure, steps, self.scenario)

    async def _lexical_choice(self, _hub: str, edges: list[Edge], text: str) -> str:
        return choose_option(text, option_texts(self.procedure, edges))


class InContextCondition(Condition):
    name = "in_context"
    model_role = "frontier"
    default_model = "offline"
    description = "the frontier model with the whole flowchart in its prompt"

    def __init__(self, procedure: Procedure, model: ChatModel) -> None:
        super().__init__(procedure, model)
        chained = any(same_turn(procedure, a, b) for a, b, _ in procedure.edges())
        self.system = IN_CONTEXT_SYSTEM.format(system_prompt=procedure.system_prompt, chains=CHAINS if chained else "",
                                               flowchart=serialize_flowchart(procedure),
                                               tools=TOOLS if procedure.tool_specs() else "")

    def session(self, scenario: Scenario) -> InContextSession:
        return InContextSession(self.procedure, self.model, scenario, self.system)
