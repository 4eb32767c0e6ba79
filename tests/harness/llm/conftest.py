"""Fixtures for the LLM layer's tests: fake API servers, a clean environment, fast retries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.llm import RetryPolicy
from tests.harness.llm.fake_servers import FakeLLMServer

KEY_VARIABLES = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "OPENAI_API_KEY",
    "ANTHROPIC_BASE_URL",
    "OPENAI_BASE_URL",
)


@pytest.fixture(scope="session")
def llm_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder per session, so the converted tokenizer is made once per worker."""
    return tmp_path_factory.mktemp("llm-cache")


@pytest.fixture(autouse=True)
def _clean_llm_environment(monkeypatch: pytest.MonkeyPatch, llm_cache_dir: Path) -> None:
    # No real keys or endpoints leak into tests; nothing is written into the checkout.
    for variable in KEY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("SUBTERRA_CACHE_MODE", raising=False)
    monkeypatch.setenv("SUBTERRA_CACHE_DIR", str(llm_cache_dir))


@pytest.fixture
def fast_retry() -> RetryPolicy:
    return RetryPolicy(max_attempts=10, base_delay_s=0.005, max_delay_s=0.05)


@pytest.fixture
def anthropic_server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer("anthropic") as server:
        yield server


@pytest.fixture
def openai_server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer("openai") as server:
        yield server
