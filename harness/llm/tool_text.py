"""Tool use for a local model whose chat template has no tool support: as text.

A local engine (the `local` provider, the rehearsal gateway in front of it) renders a
request's tools and tool turns into the prompt, and reads the model's calls back from its
reply, in the Hermes convention that Qwen2.5/Qwen3 templates render natively and that the
compiled model is trained on (`harness.tool_format` renders transcripts the same way):

    system:     ...<tools>\\n{"type": "function", "function": {...}}\\n</tools>...
    assistant:  <tool_call>\\n{"name": "lookup", "arguments": {"reference": "AB12"}}\\n</tool_call>
    user:       <tool_response>\\n{"result": "found"}\\n</tool_response>

A `tool_choice` that requires a call is a grammar (`call_grammar`): the reply is then a call
of one of the allowed tools with arguments valid under its JSON Schema.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from .base import ChatRequest, Message, ToolCall, ToolSpec

__all__ = ["CALL_OPEN", "CALL_PATTERN", "call_grammar", "call_text", "chat_messages", "parse_calls", "read_call",
           "response_text"]

CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
RESPONSE_OPEN, RESPONSE_CLOSE = "<tool_response>", "</tool_response>"
CALL_PATTERN = re.compile(re.escape(CALL_OPEN) + r"\s*(\{.*?\})\s*(?:" + re.escape(CALL_CLOSE) + r"|$)", re.DOTALL)

# What Qwen2.5's template says above the tool list (so both kinds of model read the same).
_TOOLS_PREAMBLE = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{tools}\n</tools>\n\n"
    "For each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n<tool_call>\n{{\"name\": <function-name>, \"arguments\": "
    "<args-json-object>}}\n</tool_call>"
)


def call_text(call: ToolCall, spoken: str = "") -> str:
    """An assistant message that calls `call` (after `spoken`, if any), as Qwen's template renders it."""
    # json.dumps defaults = the chat-template `tojson` of transformers (no key sorting, ", " and ": ").
    body = (f'{CALL_OPEN}\n{{"name": {json.dumps(call.name, ensure_ascii=False)}, "arguments": '
            f"{json.dumps(call.arguments, ensure_ascii=False)}}}\n{CALL_CLOSE}")
    return f"{spoken.strip()}\n{body}" if spoken.strip() else body


def response_text(result_json: str) -> str:
    """A tool's reply as the user message the model reads."""
    return f"{RESPONSE_OPEN}\n{result_json}\n{RESPONSE_CLOSE}"


def _declaration(tool: ToolSpec) -> str:
    return json.dumps({"type": "function", "function": {
        "name": tool.name, "description": tool.description, "parameters": tool.parameters}}, ensure_ascii=False)


def chat_messages(request: ChatRequest) -> list[dict[str, str]]:
    """The request's messages as plain chat messages (role, content) with its tools, calls and
    results as text. Without tools or tool turns: exactly the messages' roles and contents."""
    messages = [_plain(m) for m in request.messages]
    if request.tools and request.tool_choice != "none":
        block = _TOOLS_PREAMBLE.format(tools="\n".join(_declaration(t) for t in request.tools))
        if messages and messages[0]["role"] == "system":
            messages[0] = {"role": "system", "content": f"{messages[0]['content']}\n\n{block}"}
        else:
            messages.insert(0, {"role": "system", "content": block})
    return messages


def _plain(message: Message) -> dict[str, str]:
    if message.role == "tool":
        return {"role": "user", "content": response_text(message.content)}
    if message.tool_calls:
        text = message.content
        for call in message.tool_calls:
            text = call_text(call, text)
        return {"role": "assistant", "content": text}
    return {"role": message.role, "content": message.content}


def read_call(body: str, call_id: str) -> ToolCall | None:
    """One `<tool_call>` body (`{"name": ..., "arguments": {...}}`) as a call; None when it is
    not that shape."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        return None
    if not (isinstance(data, dict) and isinstance(data.get("name"), str)
            and isinstance(data.get("arguments", {}), dict)):
        return None
    return ToolCall(id=call_id, name=data["name"], arguments=data.get("arguments", {}))


def parse_calls(request: ChatRequest, text: str) -> tuple[str, tuple[ToolCall, ...]]:
    """(the words before any call, the calls) of a reply to `request`. Only a request that
    offers tools gets calls; a call that does not parse stays in the words, where the caller
    sees it."""
    if not request.tools or request.tool_choice == "none" or CALL_OPEN not in text:
        return text, ()
    spoken = text[: text.find(CALL_OPEN)].strip()
    calls = []
    for index, match in enumerate(CALL_PATTERN.finditer(text)):
        call = read_call(match.group(1), _call_id(request, index))
        if call is None:
            return text, ()
        calls.append(call)
    return (spoken, tuple(calls)) if calls else (text, ())


def _call_id(request: ChatRequest, index: int) -> str:
    material = json.dumps([[m.role, m.content] for m in request.messages] + [index])
    return "call_" + hashlib.sha256(material.encode()).hexdigest()[:16]


def call_grammar(request: ChatRequest) -> str | None:
    """A Lark grammar (llguidance's dialect) for a reply that must call a tool: `tool_choice`
    "required" (any offered tool) or a tool's name; None when the model may just speak."""
    if not request.tools or request.tool_choice in ("auto", "none"):
        return None
    tools: list[ToolSpec] = [t for t in request.tools
                             if request.tool_choice == "required" or t.name == request.tool_choice]
    if not tools:
        raise ValueError(f"tool_choice names {request.tool_choice!r}, which the request does not offer")
    rules = []
    for index, tool in enumerate(tools):
        head = json.dumps(f'{CALL_OPEN}\n{{"name": {json.dumps(tool.name)}, "arguments": ')
        tail = json.dumps(f"}}\n{CALL_CLOSE}")
        rules.append((f"call{index}: {head} args{index} {tail}",
                      f"args{index}: %json {json.dumps(_object_schema(tool.parameters))}"))
    start = "start: " + " | ".join(f"call{i}" for i in range(len(tools)))
    return "\n".join([start, *(line for pair in rules for line in pair)])


def _object_schema(parameters: dict[str, Any]) -> dict[str, Any]:
    return parameters if parameters.get("type") == "object" else {"type": "object", **parameters}
