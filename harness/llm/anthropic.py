"""Anthropic Messages API through the official `anthropic` SDK (AsyncAnthropic).

Tools go as the API's tool definitions (`tool_choice` "required" is the API's "any"); a
reply's `tool_use` blocks come back as `ChatResult.tool_calls`; an assistant message that
called tools is sent as `tool_use` blocks and tool results as `tool_result` blocks in the
next user message. A request's `output` is enforced with structured outputs
(`output_config.format`, the schema through the SDK's own `transform_schema`).
"""

from __future__ import annotations

import time
from typing import Any

import anthropic

from .base import ChatRequest, ChatResult, Message, ToolCall, Usage
from .errors import ProviderResponseError
from .provider import SDKProvider
from .structured import reply_text, wire_schema

__all__ = ["API_KEY_ENV", "AnthropicModel"]

API_KEY_ENV = "ANTHROPIC_API_KEY"


class AnthropicModel(SDKProvider):
    provider = "anthropic"
    sdk = anthropic

    client_class = "AsyncAnthropic"
    api_key_env = API_KEY_ENV
    base_url_env = "ANTHROPIC_BASE_URL"

    def __init__(self, model: str, *, send_temperature: bool = True, **options: Any) -> None:
        """`options`: api_key, base_url, timeout_s (see `SDKProvider`)."""
        super().__init__(model, **options)
        self.send_temperature = send_temperature

    async def generate(self, request: ChatRequest) -> ChatResult:
        started = time.perf_counter()
        response = await self._clients.get().messages.create(
            **_request_kwargs(self.model_id, request, self.send_temperature)
        )
        text = _text_of(response)
        return ChatResult(
            text=reply_text(request.output, text) if request.output else text,
            usage=_usage_of(response),
            model=getattr(response, "model", None) or self.model_id,
            latency_s=time.perf_counter() - started,
            tool_calls=_tool_calls_of(response),
            constrained=request.output is not None,
        )


def _request_kwargs(model: str, request: ChatRequest, send_temperature: bool) -> dict[str, Any]:
    # The Messages API has no system role: system messages go to `system=`, in order.
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    kwargs: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_tokens,
        "messages": _messages([m for m in request.messages if m.role != "system"]),
    }
    if system:
        kwargs["system"] = system
    if request.stop:
        kwargs["stop_sequences"] = list(request.stop)
    if send_temperature:
        # The installed SDK no longer types `temperature`; the Messages API still takes it for
        # the Claude 4.x models we target. Models that reject it: send_temperature=False.
        kwargs["extra_body"] = {"temperature": request.temperature}
    if request.tools:
        kwargs["tools"] = [{"name": t.name, "description": t.description, "input_schema": t.parameters}
                           for t in request.tools]
        kwargs["tool_choice"] = _tool_choice(request.tool_choice)
    if request.output is not None:
        kwargs["output_config"] = {"format": {"type": "json_schema",
                                              "schema": anthropic.transform_schema(wire_schema(request.output))}}
    return kwargs


def _tool_choice(choice: str) -> dict[str, str]:
    if choice in ("auto", "none"):
        return {"type": choice}
    if choice == "required":
        return {"type": "any"}
    return {"type": "tool", "name": choice}


def _messages(messages: list[Message]) -> list[dict[str, Any]]:
    """The Messages API's turns: tool results are user content, and the results answering one
    assistant turn (with any user text after them) must share one user message."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "tool":
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id,
                                     "content": message.content}
            entry = {"role": "user", "content": [block]}
        elif message.tool_calls:
            blocks: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
            blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
                       for c in message.tool_calls]
            entry = {"role": "assistant", "content": blocks}
        else:
            entry = {"role": message.role, "content": message.content}
        previous = out[-1] if out else None
        if previous and previous["role"] == entry["role"] == "user" and _has_tool_result(previous):
            previous["content"] = _blocks(previous["content"]) + _blocks(entry["content"])
        else:
            out.append(entry)
    return out


def _blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return content if isinstance(content, list) else [{"type": "text", "text": content}]


def _has_tool_result(message: dict[str, Any]) -> bool:
    content = message["content"]
    return isinstance(content, list) and any(b.get("type") == "tool_result" for b in content)


def _tool_calls_of(response: Any) -> tuple[ToolCall, ...]:
    calls = []
    for block in getattr(response, "content", None) or []:
        if getattr(block, "type", None) == "tool_use":
            calls.append(ToolCall(id=block.id, name=block.name, arguments=dict(block.input or {})))
    return tuple(calls)


def _text_of(response: Any) -> str:
    content = getattr(response, "content", None)
    if not isinstance(content, list):
        raise ProviderResponseError(f"anthropic response has no content list: {response!r:.300}")
    return "".join(block.text for block in content if getattr(block, "type", None) == "text")


def _usage_of(response: Any) -> Usage:
    usage = getattr(response, "usage", None)
    if usage is None or getattr(usage, "input_tokens", None) is None:
        raise ProviderResponseError(f"anthropic response has no usage: {response!r:.300}")
    # Prompt-cache reads and writes are input tokens too (billed at other rates we ignore).
    input_tokens = (
        usage.input_tokens
        + (getattr(usage, "cache_creation_input_tokens", None) or 0)
        + (getattr(usage, "cache_read_input_tokens", None) or 0)
    )
    return Usage(input_tokens=input_tokens, output_tokens=usage.output_tokens or 0, calls=1)
