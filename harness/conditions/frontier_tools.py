"""Tool use for the frontier-model conditions (`in_context`, `langgraph`): the procedure's
tools as vendor tool declarations, the conversation in the vendors' tool-use message shapes,
and the model's call handed back to the runner (which executes it; conditions never do).

A frontier model is called through its vendor's tool-use API, so the history carries an
agent's call as an assistant message with `tool_calls` and the tool's reply as a `tool`
message answering it, never as text (the compiled model's text convention is for models
trained on it).
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.llm.base import ChatResult, Message, ToolCall
from harness.transcript import Turn

from .base import OPENER

__all__ = ["first_call", "native_history"]


def native_history(system: str, turns: Sequence[Turn], *, opener: bool) -> tuple[Message, ...]:
    """System prompt and turns as chat messages, tool calls and results in the vendors' shapes;
    for a conversation without tool turns, exactly `history_messages`."""
    messages = [Message(role="system", content=system)]
    if opener and (not turns or turns[0].speaker == "agent"):
        messages.append(Message(role="user", content=OPENER))
    for turn in turns:
        if turn.speaker == "tool":
            call_id = turn.tool_call.id if turn.tool_call is not None else None
            messages.append(Message(role="tool", content=turn.text, tool_call_id=call_id))
        elif turn.tool_call is not None:
            messages.append(Message(role="assistant", content=turn.text, tool_calls=(turn.tool_call,)))
        else:
            messages.append(Message(role="assistant" if turn.speaker == "agent" else "user", content=turn.text))
    return tuple(messages)


def first_call(result: ChatResult) -> ToolCall | None:
    """The call the runner should execute: the model's first. The runner executes one call per
    reply and asks again, so a model that wants more calls makes them one at a time; a call of
    a tool nobody declared goes to the runner too, whose error result the model then reads."""
    return result.tool_calls[0] if result.tool_calls else None
