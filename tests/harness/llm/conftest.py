"""Fixtures for the LLM layer's tests: fake API servers and fast retries (the clean environment
is `tests/conftest.py`'s)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch

from harness.llm import RetryPolicy
from harness.llm.local import LocalModel
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


def _no_network(*args: object, **kwargs: object) -> None:
    raise AssertionError("the local provider tried to open a network connection")


@contextmanager
def offline_smollm(tmp_path_factory: pytest.TempPathFactory, **options: object) -> Iterator[LocalModel]:
    """SmolLM2-135M from the installed wheel, loaded with the network cut (any connection
    attempt fails the test) and a cache of its own; one decoding thread: CI has 2 shared cores."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("SUBTERRA_CACHE_DIR", str(tmp_path_factory.mktemp("smollm-cache")))
        patch.setattr(socket.socket, "connect", _no_network)
        # float32 unless a test asks: these tests compare batched with one-at-a-time decoding,
        # which bf16 rounding (the provider's default on a bf16 CPU) does not keep equal.
        options.setdefault("dtype", torch.float32)
        model = LocalModel("smollm2-135m", threads=1, **options)  # type: ignore[arg-type]
        model.load()
    try:
        yield model
    finally:
        asyncio.run(model.aclose())
