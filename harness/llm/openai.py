"""OpenAI Chat Completions through the official `openai` SDK (AsyncOpenAI).

`OpenAICompatibleModel` is the same provider pointed at another server that speaks the API
(vLLM, llama.cpp, Ollama, ...): a base URL and an optional key.
"""

from __future__ import annotations

import logging
import time
from typing import Any, ClassVar

import openai

from .base import ChatRequest, ChatResult, Usage
from .errors import ProviderResponseError
from .provider import SDKProvider
from .redact import redact_url

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
        return ChatResult(
            text=_text_of(response),
            usage=self._usage_of(response),
            model=getattr(response, "model", None) or self.model_id,
            latency_s=time.perf_counter() - started,
        )

    def _request_kwargs(self, request: ChatRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model_id,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "temperature": request.temperature,
            self.max_tokens_param: request.max_tokens,
        }
        if request.seed is not None:
            kwargs["seed"] = request.seed
        if request.stop:
            kwargs["stop"] = list(request.stop)
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
