"""Anthropic Messages API through the official `anthropic` SDK (AsyncAnthropic)."""

from __future__ import annotations

import time
from typing import Any

import anthropic

from .base import ChatRequest, ChatResult, Message, Usage
from .errors import ProviderResponseError
from .provider import SDKProvider

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
        return ChatResult(
            text=_text_of(response),
            usage=_usage_of(response),
            model=getattr(response, "model", None) or self.model_id,
            latency_s=time.perf_counter() - started,
        )


def _request_kwargs(model: str, request: ChatRequest, send_temperature: bool) -> dict[str, Any]:
    # The Messages API has no system role: system messages go to `system=`, in order.
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    kwargs: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_tokens,
        "messages": [_message(m) for m in request.messages if m.role != "system"],
    }
    if system:
        kwargs["system"] = system
    if request.stop:
        kwargs["stop_sequences"] = list(request.stop)
    if send_temperature:
        # The installed SDK no longer types `temperature`; the Messages API still takes it for
        # the Claude 4.x models we target. Models that reject it: send_temperature=False.
        kwargs["extra_body"] = {"temperature": request.temperature}
    return kwargs


def _message(message: Message) -> dict[str, str]:
    return {"role": message.role, "content": message.content}


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
