"""The simulated customer (paper §3): one per scenario, the same for every condition.

It role-plays the scenario's persona and facts and never sees the flowchart. What it sees of
the procedure is its own plan: the customer steps of the scenario's intended path, in order
(rendered with its facts) — the scenario script a human tester would get. It says when it
is done: a real model by replying with `END_MARKER`, and any model once its plan is used up
and the agent has answered its last step.

With the offline model the customer speaks the procedure's user `examples` for its next
planned step (at a hub, the example closest to the branch its path takes), whatever the
agent just said — a documented limitation: offline, the customer cannot react to an agent
that goes off script, so off-script agents are caught by the trace judge, not by the user.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from harness.llm.base import ChatModel, ChatRequest, Hint, Message, Usage
from harness.procedure import Procedure, Role, chain_toward
from harness.scenarios import Scenario
from harness.templates import render
from harness.transcript import Turn

END_MARKER = "[END]"
USER_MAX_TOKENS = 160

SIMULATOR_SYSTEM = (
    "You are role-playing a customer who is chatting with a customer-service agent. Stay in "
    "character; write only the customer's next message (no labels, no stage directions).\n\n"
    "Your facts: {facts}\nYour manner: {persona}\n\n"
    "What you want to happen, in order (adapt your words to what the agent says):\n{plan}\n\n"
    "When the conversation is over for you, reply with {end} only."
)


class SimulatorError(Exception):
    """The simulated customer failed (not the agent): recorded as its own end reason."""

    def __init__(self, message: str, *, empty_replies: int = 0) -> None:
        super().__init__(message)
        self.empty_replies = empty_replies


class UserReply(BaseModel):
    text: str = ""
    ended: bool = False
    node: str | None = None          # the planned step this message was meant to play
    usage: Usage = Field(default_factory=Usage)
    model: str = ""
    empty_replies: int = 0           # empty answers before this one (each asked again)


class SimulatorSession:
    def __init__(self, model: ChatModel, procedure: Procedure, scenario: Scenario) -> None:
        self.model, self.procedure, self.scenario = model, procedure, scenario
        path = scenario.path
        # (user node, its position on the path); each is one customer message
        self.plan = [(node, i) for i, node in enumerate(path) if procedure.nodes[node].role is Role.USER]
        steps = "\n".join(f"{i}. {render(procedure.nodes[n].prompt, scenario.context).strip()}"
                          for i, (n, _) in enumerate(self.plan, 1))
        self.system = SIMULATOR_SYSTEM.format(
            facts=", ".join(f"{k}: {v}" for k, v in scenario.variables.items()) or "none",
            persona=", ".join(f"{k}: {v}" for k, v in scenario.persona.items()) or "ordinary",
            plan=steps or "(nothing: end the conversation)", end=END_MARKER)

    async def reply(self, turns: Sequence[Turn]) -> UserReply:
        step = sum(t.speaker == "user" for t in turns)
        if step >= len(self.plan):
            return UserReply(ended=True)
        node_id, position = self.plan[step]
        path = self.scenario.path
        next_id = path[position + 1] if position + 1 < len(path) else None
        node = self.procedure.nodes[node_id]
        # The customer never sees the agent's tool calls or what the tools answered.
        history = ("\n".join(f"{'Agent' if t.speaker == 'agent' else 'You'}: {t.text}" for t in turns
                             if t.speaker != "tool" and (t.text or t.tool_call is None))
                   or "(nothing yet: you open the chat)")
        request = ChatRequest(
            messages=(Message(role="system", content=self.system),
                      Message(role="user", content=f"The conversation so far:\n{history}\n\n"
                                                   f"Your next step ({step + 1} of {len(self.plan)}). "
                                                   "Write your message.")),
            max_tokens=USER_MAX_TOKENS, temperature=self.scenario.temperature, purpose="user",
            seed=self.scenario.trial_seed("user", self.scenario.seed, self.scenario.index, len(turns)),
            hint=Hint(task="turn", speaker="user", node=node_id, variables=self.scenario.context,
                      examples=tuple(self.procedure.examples_toward(node_id, next_id)),
                      toward=chain_toward(self.procedure, path, position)))
        usage, empty = Usage(), 0
        for retry in range(2):      # an empty message is asked for once more before giving up
            # Trial 2t + retry: each of the scenario's trials asks afresh, and so does each retry.
            result = await self.model.generate(request.model_copy(update={"trial": 2 * self.scenario.trial + retry}))
            usage = usage + result.usage
            ended = END_MARKER in result.text
            text = result.text.replace(END_MARKER, "").strip()   # "Thanks, bye! [END]" keeps its words
            if text or ended:
                break
            empty += 1
        else:
            raise SimulatorError(f"the user model {result.model} returned an empty message twice "
                                 f"(scenario {self.scenario.index}, step {step + 1})", empty_replies=empty)
        # A planned step that is a terminal (the customer leaves) ends the conversation.
        ended = ended or node.terminal is not None
        return UserReply(text=text, ended=ended, node=node_id, usage=usage, model=result.model,
                         empty_replies=empty)


class UserSimulator:
    """Builds one `SimulatorSession` per conversation."""

    def __init__(self, model: ChatModel, procedure: Procedure) -> None:
        self.model, self.procedure = model, procedure

    def session(self, scenario: Scenario) -> SimulatorSession:
        return SimulatorSession(self.model, self.procedure, scenario)
