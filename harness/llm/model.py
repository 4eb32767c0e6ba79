"""`Model`: one provider plus the record/replay cache, limits and a usage ledger.

Every call goes: cache lookup -> (replay miss: `CacheMissError`) -> limits (concurrency cap,
rate limit, retries) -> provider -> cache write -> ledger. `get_model` builds these.
"""

from __future__ import annotations

from .base import ChatModel, ChatRequest, ChatResult, Usage
from .cache import ResponseCache, cache_key, request_summary
from .errors import CacheMissError
from .ledger import UsageLedger
from .limits import Limits
from .provider import Provider, estimate_tokens

__all__ = ["Model"]


class Model(ChatModel):
    """The `ChatModel` callers get from `get_model`. Close it (`aclose`, or `async with`) when done."""

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
                self.ledger.add(request.purpose, hit.usage)
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
        self.ledger.add(request.purpose, result.usage)
        if self.cache is not None and key is not None:
            stored = self.cache.put(
                key, self.provider.cache_identity, self.provider.model_id, request, result
            )
            # Another caller recorded the same request first (the insert keeps theirs): answer
            # with what the cache holds, so a replay gives every caller what it got now.
            # (A local stand-in's answer to one request can differ with its batch.)
            kept = None if stored else self.cache.get(key)
            if kept is not None:
                result = kept.model_copy(update={"cached": False, "latency_s": result.latency_s})
        return result

    async def aclose(self) -> None:
        await self.provider.aclose()
        if self.cache is not None:
            self.cache.close()

    async def __aenter__(self) -> Model:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"Model({self.name!r}, cache={self.cache!r})"

