"""Tool calls and results as chat messages: one text convention at train and run time.

The compiled model learns its calls as text inside the chat template. The convention is the
one Qwen2.5 and Qwen3 chat templates render natively (Hermes style), so for them it IS the
model's own tool-call format, byte for byte; SmolLM2's template has no tool support, and the
same text is its documented convention:

    assistant:  <tool_call>\\n{"name": "verify_identity", "arguments": {"card_last4": "4821"}}\\n</tool_call>
    user:       <tool_response>\\n{"result": "verified"}\\n</tool_response>

(words said with a call come first, then a newline, then the call). The tool's reply is a
`user` message, as those templates render a `tool` message, so the training loss never
covers it. `parse_call` reads a model's reply back into a `ToolCall`. The text itself
(`call_text`, `response_text`) is `harness.llm.tool_text`'s, which local engines use for
requests that carry tools: one convention, one place.
"""

from __future__ import annotations

from harness.llm.base import ToolCall
from harness.llm.tool_text import CALL_OPEN, CALL_PATTERN, call_text, read_call, response_text
from harness.transcript import Turn

__all__ = ["CALL_OPEN", "call_text", "parse_call", "response_text", "turn_message"]

def parse_call(text: str, call_id: str = "call_0") -> tuple[str, ToolCall | None, bool]:
    """(words before the call, the call or None, whether a call was attempted but unreadable)."""
    at = text.find(CALL_OPEN)
    if at < 0:
        return text.strip(), None, False
    spoken = text[:at].strip()
    match = CALL_PATTERN.search(text, at)
    call = read_call(match.group(1), call_id) if match is not None else None
    return spoken, call, call is None


def turn_message(turn: Turn) -> dict[str, str]:
    """One transcript turn as a chat message in the text convention (role, content)."""
    if turn.speaker == "tool":
        return {"role": "user", "content": response_text(turn.text.strip())}
    if turn.tool_call is not None:
        return {"role": "assistant", "content": call_text(turn.tool_call, turn.text)}
    return {"role": "assistant" if turn.speaker == "agent" else "user", "content": turn.text.strip()}
