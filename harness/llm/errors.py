"""Errors raised by the LLM layer.

LLMError
├── ConfigurationError      a model cannot be built: unknown provider, missing API key, bad spec
├── LLMCallError            a call failed for good (not retryable, or out of attempts)
├── CacheMissError          replay mode asked for a call that was never recorded
└── ProviderResponseError   a provider answered with something we cannot read (retryable)
"""

from __future__ import annotations

__all__ = [
    "CacheMissError",
    "ConfigurationError",
    "LLMCallError",
    "LLMError",
    "ProviderResponseError",
]


class LLMError(Exception):
    """Base class of every error the LLM layer raises on purpose."""


class ConfigurationError(LLMError):
    """The model cannot be built as asked (unknown provider, missing key, malformed spec)."""


class ProviderResponseError(LLMError):
    """The provider returned a response without the parts we need (e.g. no text content)."""


class LLMCallError(LLMError):
    """A call that failed for good; says which model, after how many attempts, and why."""

    def __init__(
        self,
        model: str,
        attempts: int,
        last_error: BaseException,
        *,
        retryable: bool,
        note: str = "",
    ) -> None:
        self.model = model
        self.attempts = attempts
        self.last_error = last_error
        self.retryable = retryable
        why = "gave up after" if retryable else "not retryable, failed on"
        noun = "attempt" if attempts == 1 else "attempts"
        from .redact import redact  # an SDK error may quote the URL, credentials and all

        super().__init__(redact(
            f"model {model!r}: {why} {attempts} {noun}; last error: "
            f"{type(last_error).__name__}: {last_error}" + (f" ({note})" if note else "")
        ))


class CacheMissError(LLMError):
    """Replay mode found no recorded result for a call."""

    def __init__(self, model: str, summary: str, key: str) -> None:
        self.model = model
        self.summary = summary
        self.key = key
        super().__init__(
            f"replay cache has no entry for model {model!r} ({summary}; key {key[:12]}); "
            "record it first with cache mode 'record'"
        )
