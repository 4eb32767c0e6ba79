"""Fixtures for the LLM layer's tests: fake API servers and fast retries (the clean environment
is `tests/conftest.py`'s)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.llm import RetryPolicy
from tests.harness.llm.fake_servers import FakeLLMServer


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
