"""`Model`: one provider plus the record/replay cache, limits and a usage ledger.

Every call goes: cache lookup -> (replay miss: `CacheMissError`) -> limits (concurrency cap,
rate limit, retries) -> provider -> cache write -> ledger. `get_model` builds these.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from .base import ChatModel, ChatRequest, ChatResult, Usage
from .cache import ResponseCache, cache_key, request_summary
from .errors import CacheMissError
from .ledger import UsageLedger
from .limits import Limits
from .provider import Provider, estimate_tokens

__all__ = ["Model"]

T = TypeVar("T")


class Model(ChatModel):
    """The `ChatModel` callers get from `get_model`. Close it (or use `with`) when done."""

    def __init__(
        self,
        provider: Provider,
        *,
        cache: ResponseCache | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.provider = provider
        self.name = provider.name
        self.cache = cache if cache is not None and cache.mode != "off" else None
        self.limits = limits or Limits()
        self.ledger = UsageLedger()
        self._runner: _LoopThread | None = None
        self._runner_lock = threading.Lock()

    @property
    def usage(self) -> Usage:
        """Everything this model returned so far, cache hits included (see `UsageLedger`)."""
        return self.ledger.total

    async def generate(self, request: ChatRequest) -> ChatResult:
        key = None
        if self.cache is not None:
            key = cache_key(self.provider.cache_identity, self.provider.model_id, request)
            hit = self.cache.get(key)
            if hit is not None:
                self.ledger.add(request.purpose, hit.usage, cached=True)
                return hit
            if self.cache.mode == "replay":
                raise CacheMissError(self.name, request_summary(request), key)
        reserved = estimate_tokens(request)
        result = await self.limits.call(
            lambda: self.provider.generate(request),
            classify=self.provider.classify_error,
            model=self.name,
            tokens=reserved,
        )
        self.limits.rate.settle(reserved, result.usage.input_tokens + result.usage.output_tokens)
        # Count first: the call happened (and was paid for) even if storing it fails.
        self.ledger.add(request.purpose, result.usage, cached=False)
        if self.cache is not None and key is not None:
            self.cache.put(
                key, self.provider.cache_identity, self.provider.model_id, request, result
            )
        return result

    def generate_sync(self, request: ChatRequest) -> ChatResult:
        """Blocking call for scripts. Runs on one private event loop, so SDK connections are
        reused across calls (`asyncio.run` per call would strand them on closed loops)."""
        return self._loop_thread().run(self.generate(request))

    def _loop_thread(self) -> _LoopThread:
        with self._runner_lock:
            if self._runner is None:
                self._runner = _LoopThread(f"subterra-llm-{self.name}")
            return self._runner

    async def aclose(self) -> None:
        await self.provider.aclose()
        runner, self._runner = self._runner, None
        if runner is not None:
            await asyncio.wrap_future(runner.submit(self.provider.aclose()))
            runner.stop()
        if self.cache is not None:
            self.cache.close()

    def close(self) -> None:
        """Synchronous `aclose` (for scripts and fixtures that have no loop running)."""
        self._loop_thread().run(self.provider.aclose())
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.stop()
        if self.cache is not None:
            self.cache.close()

    def reset_usage(self) -> None:
        self.ledger.reset()

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Model:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"Model({self.name!r}, cache={self.cache!r})"


class _LoopThread:
    """An event loop running forever in a daemon thread; coroutines are submitted to it."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.submit(coroutine).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()
