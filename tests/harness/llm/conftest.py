"""Fixtures for the LLM layer's tests: fake API servers and fast retries (the clean environment
is `tests/conftest.py`'s)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama saved as a plain HF directory: a model that loads and serves in seconds."""
    from compile.tiny_model import TinyModelConfig, build_tiny_model, train_tokenizer

    tokenizer = train_tokenizer(["hello there, how can I help you today?"] * 8, vocab_size=300)
    config = TinyModelConfig(vocab_size=300, hidden_size=32, intermediate_size=64, num_layers=1,
                             num_heads=2, num_kv_heads=2, max_position_embeddings=256)
    model = build_tiny_model(config, tokenizer, seed=0)
    out = tmp_path_factory.mktemp("tiny-hf")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
