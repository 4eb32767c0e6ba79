"""Credentials inside an openai-compatible URL never show in names, messages or the cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.llm import get_model
from harness.llm.base import ChatRequest, Message
from harness.llm.errors import LLMError
from harness.llm.limits import RetryPolicy
from harness.llm.redact import redact, redact_url
from harness.llm.registry import get_provider
from tests.harness.llm.calls import answer

SECRET = "s3cret-token-0123"


def test_redact_url_masks_user_info_and_secret_parameters() -> None:
    assert redact_url(f"http://bob:{SECRET}@host:8000/v1?api_key={SECRET}&x=1") == \
        "http://***@host:8000/v1?api_key=***&x=1"
    assert redact(f"GET https://{SECRET}@h/v1 failed") == "GET https://***@h/v1 failed"


def test_bad_spec_error_hides_the_credentials() -> None:
    with pytest.raises(LLMError) as info:
        get_provider(f"openai-compatible:http://bob:{SECRET}@host")      # no model named
    assert SECRET not in str(info.value) and "***@host" in str(info.value)


def test_failed_call_name_and_cache_hide_the_credentials(tmp_path: Path) -> None:
    spec = f"openai-compatible:http://bob:{SECRET}@127.0.0.1:9/v1?token={SECRET}:some-model"
    model = get_model(spec, cache="record", cache_path=tmp_path / "llm.sqlite",
                      retry=RetryPolicy(max_attempts=1))
    assert SECRET not in model.name and "some-model" in model.name
    with pytest.raises(LLMError) as info:
        answer(model, ChatRequest(messages=(Message(role="user", content="hi"),)))
    assert SECRET not in str(info.value)
    assert all(SECRET.encode() not in p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
