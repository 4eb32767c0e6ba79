"""The compiled model with only the procedure's minimal system prompt (paper §3, condition 1).

No flowchart, no state, no routing: the procedure lives in the weights. The messages are
exactly the training format (`compile.dataset.chat_messages`): system prompt, then turns.
The model calls a tool by writing the call in the trained text convention
(`harness.tool_format`); the reply is parsed back into a `ToolCall` for the runner to execute.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.llm.base import ChatModel, ChatRequest
from harness.procedure import Procedure
from harness.scenarios import Scenario
from harness.tool_format import CALL_OPEN, parse_call
from harness.transcript import Turn

from .base import AgentReply, Condition, ConditionSession, history_messages, reply_text
from .orchestrated import AGENT_MAX_TOKENS, agent_seed


class SubterraneanSession(ConditionSession):
    def __init__(self, procedure: Procedure, model: ChatModel, scenario: Scenario) -> None:
        self.procedure, self.model, self.scenario = procedure, model, scenario

    async def reply(self, turns: Sequence[Turn]) -> AgentReply:
        request = ChatRequest(messages=history_messages(self.procedure.system_prompt, turns, opener=False),
                              max_tokens=AGENT_MAX_TOKENS, temperature=self.scenario.temperature,
                              seed=agent_seed(self.scenario, turns), trial=self.scenario.trial,
                              purpose="generation")
        result = await self.model.generate(request)
        text = reply_text(result)
        if self.procedure.tools and CALL_OPEN in text:
            spoken, call, unreadable = parse_call(text, call_id=f"call_{len(turns)}")
            if call is not None:
                return AgentReply(text=spoken, tool_call=call, generation=result.usage, model=result.model)
            # A call the model started but did not finish readably: kept as words, and counted.
            return AgentReply(text=text, generation=result.usage, model=result.model,
                              unparsed_tool_calls=int(unreadable))
        return AgentReply(text=text, generation=result.usage, model=result.model)


class SubterraneanCondition(Condition):
    name = "subterranean"
    model_role = "compiled"
    default_model = None            # the compiled model, from the store
    is_reference = True
    description = "the compiled model with only the procedure's system prompt"

    def session(self, scenario: Scenario) -> SubterraneanSession:
        return SubterraneanSession(self.procedure, self.model, scenario)
