"""Models chosen by the environment: the first alternative whose API key is set."""

from __future__ import annotations

import pytest

from harness.llm.choice import choose, missing_requirement
from harness.llm.errors import ConfigurationError


def test_without_keys_the_fallback_plays_and_says_why() -> None:
    choice = choose("anthropic:claude-sonnet-4-5 | openai:gpt-4.1 | offline")
    assert choice.spec == "offline"
    assert choice.note == ("offline (not anthropic:claude-sonnet-4-5: ANTHROPIC_API_KEY is not set; "
                           "not openai:gpt-4.1: OPENAI_API_KEY is not set)")


def test_with_a_key_the_real_model_plays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    choice = choose("anthropic:claude-sonnet-4-5 | openai:gpt-4.1 | offline")
    assert choice.spec == "openai:gpt-4.1" and "ANTHROPIC_API_KEY" in choice.note
    monkeypatch.setenv("ANTHROPIC_API_KEY", "  ")         # blank is not set
    assert choose("anthropic:claude-sonnet-4-5|offline").spec == "offline"
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant")
    assert choose("anthropic:claude-sonnet-4-5|offline").note == "anthropic:claude-sonnet-4-5"


def test_no_alternative_available_keeps_the_last_for_the_preflight_to_name() -> None:
    choice = choose("anthropic:claude-sonnet-4-5")
    assert choice.spec == "anthropic:claude-sonnet-4-5"
    assert missing_requirement(choice.spec) == "ANTHROPIC_API_KEY is not set"
    assert missing_requirement("local:smollm2-135m") is None and missing_requirement("offline") is None
    assert missing_requirement("local:Qwen/Qwen2.5-3B-Instruct") == "its weights are not on disk"


@pytest.mark.parametrize("bad", ["anthropic:x | ", "antropic:x | offline"])
def test_malformed_alternatives_are_errors(bad: str) -> None:
    with pytest.raises((ValueError, ConfigurationError)):
        choose(bad)
