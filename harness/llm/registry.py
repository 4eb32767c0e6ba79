"""Model specs -> models. SDKs are imported only when their provider is chosen.

Specs::

    anthropic:claude-sonnet-4-5
    openai:gpt-4.1
    openai-compatible:http://host:8000/v1:MODEL
    local:PATH_OR_ALIAS            (e.g. local:smollm2-135m, local:runs/compiled/checkpoint)
    offline                        (or offline:NAME, a label such as offline:judge)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .cache import CacheMode, ResponseCache, default_cache_mode
from .errors import ConfigurationError
from .limits import Limits, RetryPolicy
from .model import Model
from .provider import Provider
from .redact import redact

__all__ = ["PROVIDERS", "check_spec", "get_model", "get_provider", "parse_spec"]

# host[:port] then an optional path without colons, then ":" and the model (which may hold colons).
# host[:port] may follow user info (user:token@), which is masked wherever the spec is shown.
_COMPATIBLE = re.compile(r"^(?P<url>https?://(?:[^@/\s]*@)?[^/:@\s]+(?::\d+)?(?:/[^:\s]*)?):(?P<model>[^@\s]+)$")
_NETWORK_CONCURRENCY = 16


def _anthropic(model: str, options: dict[str, Any]) -> Provider:
    from .anthropic import AnthropicModel

    return AnthropicModel(model, **options)


def _openai(model: str, options: dict[str, Any]) -> Provider:
    from .openai import OpenAIModel

    return OpenAIModel(model, **options)


def _openai_compatible(rest: str, options: dict[str, Any]) -> Provider:
    from .openai import OpenAICompatibleModel

    match = _COMPATIBLE.match(rest)
    if match is None:
        raise ConfigurationError(
            "openai-compatible spec must look like 'openai-compatible:http://host:8000/v1:MODEL', "
            f"got 'openai-compatible:{redact(rest)}'"
        )
    return OpenAICompatibleModel(match["model"], base_url=match["url"], **options)


def _local(source: str, options: dict[str, Any]) -> Provider:
    from .local import LocalModel

    return LocalModel(source, **options)


def _offline(label: str, options: dict[str, Any]) -> Provider:
    from .offline import OfflineModel

    if options:
        raise ConfigurationError(f"the offline model takes no options, got {sorted(options)}")
    return OfflineModel(label or None)


# provider -> (factory(rest of spec, options), the pip package its SDK comes from)
PROVIDERS: dict[str, tuple[Callable[[str, dict[str, Any]], Provider], str | None]] = {
    "anthropic": (_anthropic, "anthropic"),
    "openai": (_openai, "openai"),
    "openai-compatible": (_openai_compatible, "openai"),
    "local": (_local, "transformers"),
    "offline": (_offline, None),
}
_NEEDS_MODEL = {"anthropic", "openai", "openai-compatible", "local"}


def parse_spec(spec: str) -> tuple[str, str]:
    """Split ``provider:rest``; checks the provider is known and the model is given."""
    provider, _, rest = spec.strip().partition(":")
    if provider not in PROVIDERS:
        raise ConfigurationError(
            f"unknown model provider {provider!r} in spec {redact(spec)!r}; expected one of "
            f"{', '.join(PROVIDERS)} (e.g. 'anthropic:claude-sonnet-4-5' or 'offline')"
        )
    if provider in _NEEDS_MODEL and not rest:
        raise ConfigurationError(f"spec {spec!r} names no model; write '{provider}:MODEL'")
    return provider, rest


def check_spec(spec: str) -> None:
    """Raise `ConfigurationError` if `spec` could not name a model (without building it)."""
    provider, rest = parse_spec(spec)
    if provider == "openai-compatible" and _COMPATIBLE.match(rest) is None:
        raise ConfigurationError(f"openai-compatible spec must look like 'openai-compatible:http://host:8000/v1:MODEL', "
                                 f"got {redact(spec)!r}")


def get_provider(spec: str, **options: Any) -> Provider:
    """The bare provider for `spec` (no cache, no retries): most callers want `get_model`."""
    provider, rest = parse_spec(spec)
    factory, package = PROVIDERS[provider]
    try:
        return factory(rest, options)
    except ModuleNotFoundError as err:
        if package is None or err.name != package:
            raise
        raise ConfigurationError(
            f"provider {provider!r} needs the {package!r} package: pip install {package}"
        ) from err


def get_model(
    spec: str,
    *,
    cache: CacheMode | ResponseCache | None = None,
    cache_path: str | Path | None = None,
    retry: RetryPolicy | None = None,
    requests_per_minute: float | None = None,
    tokens_per_minute: float | None = None,
    max_concurrency: int | None = None,
    **provider_options: Any,
) -> Model:
    """Build the `Model` for `spec`: provider + record/replay cache + limits + usage ledger.

    `cache`: a mode ('off', 'record', 'replay') or a shared `ResponseCache`. When not given,
    network providers use `$SUBTERRA_CACHE_MODE` (default 'record'); offline and local models
    are not cached (their answers are a pure function of the request, or of weights that can
    change in place at the same path). `provider_options` go to the provider (api_key,
    base_url, timeout_s, ...). Network providers default to 16 concurrent calls.
    """
    provider = get_provider(spec, **provider_options)
    if isinstance(cache, ResponseCache):
        store: ResponseCache | None = cache
    else:
        mode = cache or (default_cache_mode() if provider.cacheable else "off")
        store = ResponseCache(cache_path, mode) if mode != "off" else None
    if max_concurrency is None and provider.provider in {
        "anthropic",
        "openai",
        "openai-compatible",
    }:
        max_concurrency = _NETWORK_CONCURRENCY
    limits = Limits(
        retry,
        requests_per_minute=requests_per_minute,
        tokens_per_minute=tokens_per_minute,
        max_concurrency=max_concurrency,
    )
    return Model(provider, cache=store, limits=limits)
