"""Every model call in subterra goes through here.

    from harness.llm import ChatRequest, Message, get_model

    model = get_model("anthropic:claude-sonnet-4-5")      # or "offline", "local:smollm2-135m", ...
    result = await model.generate(ChatRequest(messages=(Message(role="user", content="Hi"),)))
    model.usage                                            # tokens so far, per purpose in model.ledger

Importing this package imports no SDK and no torch; providers load on first use.
"""

from .base import ChatModel, ChatRequest, ChatResult, Hint, Message, Usage
from .cache import CacheMode, ResponseCache
from .errors import (
    CacheMissError,
    ConfigurationError,
    LLMCallError,
    LLMError,
    ProviderResponseError,
)
from .ledger import UsageLedger
from .limits import Limits, RetryPolicy
from .model import Model
from .pricing import Price, cost, price_for, self_hosted_price
from .provider import Provider
from .registry import get_model, get_provider, parse_spec

__all__ = [
    "CacheMissError",
    "CacheMode",
    "ChatModel",
    "ChatRequest",
    "ChatResult",
    "ConfigurationError",
    "Hint",
    "LLMCallError",
    "LLMError",
    "Limits",
    "Message",
    "Model",
    "Price",
    "Provider",
    "ProviderResponseError",
    "ResponseCache",
    "RetryPolicy",
    "Usage",
    "UsageLedger",
    "cost",
    "get_model",
    "get_provider",
    "parse_spec",
    "price_for",
    "self_hosted_price",
]
