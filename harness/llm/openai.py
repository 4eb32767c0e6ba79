"""OpenAI Chat Completions through the official `openai` SDK (AsyncOpenAI).

`OpenAICompatibleModel` is the same provider pointed at another server that speaks the API
(vLLM, llama.cpp, Ollama, ...): a base URL and an optional key.

Tools go as `function` tools (`tool_choice` a mode or one function); a reply's `tool_calls`
come back as `ChatResult.tool_calls` (arguments parsed from their JSON text); history keeps
the API's shapes (an assistant message's `tool_calls`, `tool` messages with their
`tool_call_id`). A request's `output` is enforced with Structured Outputs: `response_format`
`json_schema` with `strict: true` (vLLM and the rehearsal gateway honour it too).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, ClassVar

import openai

from .base import ChatRequest, ChatResult, Message, ToolCall, Usage
from .errors import ProviderResponseError
from .provider import SDKProvider
from .redact import redact_url
from .structured import reply_text, strip_for_openai, wire_schema

__all__ = ["API_KEY_ENV", "OpenAICompatibleModel", "OpenAIModel"]

log = logging.getLogger(__name__)

API_KEY_ENV = "OPENAI_API_KEY"


class OpenAIModel(SDKProvider):
    provider = "openai"
    sdk = openai
    # OpenAI deprecated `max_tokens` for chat models; other servers mostly know only `max_tokens`.
    max_tokens_param: ClassVar[str] = "max_completion_tokens"

    client_class = "AsyncOpenAI"
    api_key_env = API_KEY_ENV
    base_url_env = "OPENAI_BASE_URL"

    async def generate(self, request: ChatRequest) -> ChatResult:
        started = time.perf_counter()
        response = await self._clients.get().chat.completions.create(
            **self._request_kwargs(request)
        )
        text = _text_of(response)
        return ChatResult(
            text=reply_text(request.output, text) if request.output else text,
            usage=self._usage_of(response),
            model=getattr(response, "model", None) or self.model_id,
            latency_s=time.perf_counter() - started,
            tool_calls=_tool_calls_of(response),
            constrained=request.output is not None,
        )

    def _request_kwargs(self, request: ChatRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model_id,
            "messages": [_message(m) for m in request.messages],
            "temperature": request.temperature,
            self.max_tokens_param: request.max_tokens,
        }
        if request.seed is not None:
            kwargs["seed"] = request.seed
        if request.stop:
            kwargs["stop"] = list(request.stop)
        if request.tools:
            kwargs["tools"] = [{"type": "function", "function": {
                "name": t.name, "description": t.description, "parameters": t.parameters}} for t in request.tools]
            choice = request.tool_choice
            kwargs["tool_choice"] = (choice if choice in ("auto", "required", "none")
                                     else {"type": "function", "function": {"name": choice}})
        if request.output is not None:
            kwargs["response_format"] = {"type": "json_schema", "json_schema": {
                "name": request.output.name, "strict": True,
                "schema": strip_for_openai(wire_schema(request.output))}}
        return kwargs

    def _usage_of(self, response: Any) -> Usage:
        usage = getattr(response, "usage", None)
        if usage is None or getattr(usage, "prompt_tokens", None) is None:
            # Some compatible servers omit usage; cost tables then show zero, so say so.
            log.warning("%s: response carries no usage; counting 0 tokens", self.name)
            return Usage(calls=1)
        return Usage(
            input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens or 0, calls=1
        )



class OpenAICompatibleModel(OpenAIModel):
    """Any server speaking the Chat Completions API, e.g. vLLM at ``http://host:8000/v1``."""

    provider = "openai-compatible"
    max_tokens_param = "max_tokens"

    def __init__(
        self, model: str, *, base_url: str, api_key: str | None = None, timeout_s: float | None = None
    ) -> None:
        super().__init__(model, api_key=api_key, base_url=base_url, timeout_s=timeout_s)
        self.name = f"{self.provider}:{redact_url(base_url)}:{model}"

    def _api_key(self, given: str | None) -> str:
        # Never forward OPENAI_API_KEY to a third-party server; vLLM's convention is "EMPTY".
        return given or "EMPTY"

    @property
    def cache_identity(self) -> str:
        return f"{self.provider}:{redact_url(self.base_url)}"


def _message(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.tool_calls:
        return {"role": "assistant", "content": message.content or None, "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
            for c in message.tool_calls]}
    return {"role": message.role, "content": message.content}


def _tool_calls_of(response: Any) -> tuple[ToolCall, ...]:
    """The reply's function calls. Arguments that are not a JSON object are kept as text under
    `_unparsed`, so the tool (or the judge) sees what the model wrote instead of a crash."""
    message = getattr(response.choices[0], "message", None)
    calls = []
    for call in getattr(message, "tool_calls", None) or []:
        function = getattr(call, "function", None)
        if function is None:        # a custom (non-function) tool call: not something we declare
            continue
        try:
            arguments = json.loads(function.arguments or "{}")
        except json.JSONDecodeError:
            arguments = None
        if not isinstance(arguments, dict):
            arguments = {"_unparsed": function.arguments}
        calls.append(ToolCall(id=call.id, name=function.name, arguments=arguments))
    return tuple(calls)


def _text_of(response: Any) -> str:
    choices = getattr(response, "choices", None)
    if not choices:
        raise ProviderResponseError(f"chat completion has no choices: {response!r:.300}")
    message = getattr(choices[0], "message", None)
    if message is None:
        raise ProviderResponseError(f"chat completion choice has no message: {response!r:.300}")
    if message.content is not None:
        return message.content
    return getattr(message, "refusal", None) or ""
