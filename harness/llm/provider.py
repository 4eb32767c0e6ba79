"""What a provider module implements, beyond `ChatModel.generate`.

A provider turns a `ChatRequest` into one API (or local) call and the answer back into a
`ChatResult`. It never retries, caches or counts usage across calls: `Model` does that once
for all providers. It does say whether a failure is worth retrying (`classify_error`).
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import Any, ClassVar, Generic, TypeVar

from .base import ChatModel, ChatRequest
from .errors import ConfigurationError
from .limits import ErrorVerdict, classify_common, classify_status

__all__ = ["TIMEOUT_ENV", "PerLoop", "Provider", "call_timeout_s", "classify_sdk_error", "estimate_tokens",
           "require_env"]

TIMEOUT_ENV = "SUBTERRA_API_TIMEOUT_S"

T = TypeVar("T")


class Provider(ChatModel):
    """A `ChatModel` that talks to one backend; wrapped by `harness.llm.model.Model`."""

    provider: ClassVar[str]
    # Results may be stored by the record/replay cache. False for backends whose answers are
    # already a pure function of the request (offline) or whose weights can change in place.
    cacheable: ClassVar[bool] = True

    model_id: str

    @property
    def cache_identity(self) -> str:
        """What the cache key says about *who* answered (provider, plus endpoint if relevant)."""
        return self.provider

    def classify_error(self, error: BaseException) -> ErrorVerdict:
        """Default: transient network/parse errors are retryable, everything else is not."""
        return classify_common(error) or ErrorVerdict(retryable=False)


def require_env(variable: str, provider: str) -> str:
    """The value of an API key variable, or a `ConfigurationError` that names it."""
    value = os.environ.get(variable, "").strip()
    if not value:
        raise ConfigurationError(
            f"{provider} needs an API key: set the environment variable {variable} "
            "(or pass api_key=...), or use the 'offline' model, which needs none"
        )
    return value


def call_timeout_s() -> float:
    """Seconds one API call may take: `$SUBTERRA_API_TIMEOUT_S`, else 120. A local server on a
    busy CPU (the rehearsal) needs far longer than an API does."""
    value = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        return float(value) if value else 120.0
    except ValueError:
        raise ConfigurationError(f"${TIMEOUT_ENV} must be a number of seconds, got {value!r}") from None


def estimate_tokens(request: ChatRequest) -> int:
    """Rough upper bound of a request's tokens for rate limiting: ~4 characters per token."""
    characters = sum(len(m.content) for m in request.messages)
    return characters // 4 + 1 + request.max_tokens


class PerLoop(Generic[T]):
    """One object per running event loop (SDK clients hold connections bound to their loop)."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._items: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T]
        self._items = weakref.WeakKeyDictionary()

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        if loop not in self._items:
            self._items[loop] = self._factory()
        return self._items[loop]

    def pop_current(self) -> T | None:
        """Remove and return this loop's object; objects of other (finished) loops are dropped."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        item = self._items.pop(loop, None) if loop is not None else None
        self._items.clear()
        return item


def classify_sdk_error(error: BaseException, sdk: ModuleType) -> ErrorVerdict:
    """Verdict for the exception tree shared by the `anthropic` and `openai` SDKs."""
    if isinstance(error, sdk.APIStatusError):
        return classify_status(error.status_code, error.response.headers)
    if isinstance(error, (sdk.APIConnectionError, sdk.APIResponseValidationError)):
        return ErrorVerdict(retryable=True)  # includes APITimeoutError
    return classify_common(error) or ErrorVerdict(retryable=False)


class SDKProvider(Provider):
    """A provider that calls a network API through an official SDK (`anthropic`, `openai`):
    one client per event loop, errors judged by the SDK's exception tree, answers recorded
    under the server they came from."""

    sdk: ClassVar[ModuleType]
    client_class: ClassVar[str]        # the SDK's async client, e.g. "AsyncOpenAI"
    api_key_env: ClassVar[str]
    base_url_env: ClassVar[str]

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout_s: float | None = None,
    ) -> None:
        self.model_id = model
        self.name = f"{self.provider}:{model}"
        # The SDK reads its *_BASE_URL itself; we read it too, so that answers recorded from
        # another server (a local rehearsal) are never replayed as the real API's.
        self.base_url = base_url or os.environ.get(self.base_url_env) or None
        key = self._api_key(api_key)
        client = getattr(self.sdk, self.client_class)
        # max_retries=0: retrying is Model's job, done once for every provider.
        self._clients: PerLoop[Any] = PerLoop(
            lambda: client(api_key=key, base_url=base_url, timeout=timeout_s or call_timeout_s(), max_retries=0)
        )

    def _api_key(self, given: str | None) -> str:
        return given or require_env(self.api_key_env, self.provider)

    @property
    def cache_identity(self) -> str:
        """Answers recorded from another server (e.g. a local rehearsal) never replay as the API's."""
        return f"{self.provider}@{self.base_url}" if self.base_url else self.provider

    def classify_error(self, error: BaseException) -> ErrorVerdict:
        return classify_sdk_error(error, self.sdk)

    async def aclose(self) -> None:
        client = self._clients.pop_current()
        if client is not None:
            await client.close()
