"""Tool calls and results as chat messages: one text convention at train and run time.

The compiled model learns its calls as text inside the chat template. The convention is the
one Qwen2.5 and Qwen3 chat templates render natively (Hermes style), so for them it IS the
model's own tool-call format, byte for byte; SmolLM2's template has no tool support, and the
same text is its documented convention:

    assistant:  <tool_call>\\n{"name": "verify_identity", "arguments": {"card_last4": "4821"}}\\n</tool_call>
    user:       <tool_response>\\n{"result": "verified"}\\n</tool_response>

(words said with a call come first, then a newline, then the call). The tool's reply is a
`user` message, as those templates render a `tool` message, so the training loss never
covers it. `parse_call` reads a model's reply back into a `ToolCall`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from harness.llm.base import Message, ToolCall
from harness.transcript import Turn

CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
RESPONSE_OPEN, RESPONSE_CLOSE = "<tool_response>", "</tool_response>"
_CALL = re.compile(re.escape(CALL_OPEN) + r"\s*(\{.*?\})\s*(?:" + re.escape(CALL_CLOSE) + r"|$)", re.DOTALL)


def call_text(call: ToolCall, spoken: str = "") -> str:
    """An assistant message that calls `call` (after `spoken`, if any), as Qwen's template renders it."""
    # json.dumps defaults = the chat-template `tojson` of transformers (no key sorting, ", " and ": ").
    body = f'{CALL_OPEN}\n{{"name": {json.dumps(call.name, ensure_ascii=False)}, "arguments": ' \
           f"{json.dumps(call.arguments, ensure_ascii=False)}}}\n{CALL_CLOSE}"
    return f"{spoken.strip()}\n{body}" if spoken.strip() else body


def response_text(result_json: str) -> str:
    """A tool's reply as the user message the model reads."""
    return f"{RESPONSE_OPEN}\n{result_json}\n{RESPONSE_CLOSE}"


def parse_call(text: str, call_id: str = "call_0") -> tuple[str, ToolCall | None, bool]:
    """(words before the call, the call or None, whether a call was attempted but unreadable)."""
    at = text.find(CALL_OPEN)
    if at < 0:
        return text.strip(), None, False
    spoken = text[:at].strip()
    match = _CALL.search(text, at)
    if match is None:
        return spoken, None, True
    try:
        body = json.loads(match.group(1))
    except json.JSONDecodeError:
        return spoken, None, True
    name, arguments = (body.get("name"), body.get("arguments", {})) if isinstance(body, dict) else (None, None)
    if not isinstance(name, str) or not isinstance(arguments, dict):
        return spoken, None, True
    return spoken, ToolCall(id=call_id, name=name, arguments=arguments), False


def turn_message(turn: Turn) -> dict[str, str]:
    """One transcript turn as a chat message in the text convention (role, content)."""
    if turn.speaker == "tool":
        return {"role": "user", "content": response_text(turn.text.strip())}
    if turn.tool_call is not None:
        return {"role": "assistant", "content": call_text(turn.tool_call, turn.text)}
    return {"role": "assistant" if turn.speaker == "agent" else "user", "content": turn.text.strip()}


def native_messages(turns: Sequence[Turn]) -> list[Message]:
    """Turns as vendor tool-use messages: an assistant message with `tool_calls`, then a `tool`
    message answering it (for providers that take tools natively)."""
    out = []
    for turn in turns:
        if turn.speaker == "tool" and turn.tool_call is not None:
            out.append(Message(role="tool", content=turn.text, tool_call_id=turn.tool_call.id))
        elif turn.tool_call is not None:
            out.append(Message(role="assistant", content=turn.text, tool_calls=(turn.tool_call,)))
        else:
            out.append(Message(role="assistant" if turn.speaker == "agent" else "user", content=turn.text))
    return out
