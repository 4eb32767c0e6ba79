"""The real anthropic and openai SDKs against fake HTTP servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from harness.llm import (
    ChatRequest,
    ChatResult,
    ConfigurationError,
    Limits,
    LLMCallError,
    Message,
    Model,
    RetryPolicy,
    get_model,
    get_provider,
)
from tests.harness.llm.calls import answer, answers
from tests.harness.llm.fake_servers import FakeLLMServer, random_faults, scripted_faults

SPECS = {"anthropic": "anthropic:claude-haiku-4-5", "openai": "openai:gpt-4.1"}
APIS = sorted(SPECS)


def ask(text: str, **fields: object) -> ChatRequest:
    return ChatRequest(messages=(Message(role="user", content=text),), **fields)


def model_for(server: FakeLLMServer, retry: RetryPolicy | None = None, **options: object) -> Model:
    return get_model(
        SPECS[server.api],
        api_key=server.api_key,
        base_url=server.base_url,
        cache="off",
        retry=retry,
        **options,
    )


@pytest.mark.parametrize("api", APIS)
def test_request_and_response_are_translated(api: str) -> None:
    request = ChatRequest(
        messages=(
            Message(role="system", content="Be brief."),
            Message(role="user", content="Hello there"),
            Message(role="assistant", content="Hi."),
            Message(role="user", content="How are you?"),
        ),
        max_tokens=77,
        temperature=0.5,
        seed=3,
        stop=("END",),
    )
    with FakeLLMServer(api) as server:
        result = answer(model_for(server), request)
        body = server.requests[0].body
    assert result.text == "You said: How are you?"
    assert result.model == SPECS[api].split(":", 1)[1]
    input_tokens, output_tokens, calls = server.served_usage()
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.calls) == (
        input_tokens,
        output_tokens,
        calls,
    )
    assert body["model"] == SPECS[api].split(":", 1)[1]
    assert body["temperature"] == 0.5
    if api == "anthropic":
        assert body["system"] == "Be brief."
        assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
        assert body["max_tokens"] == 77 and body["stop_sequences"] == ["END"]
    else:
        assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
        assert body["max_completion_tokens"] == 77 and body["stop"] == ["END"] and body["seed"] == 3


def test_anthropic_joins_several_system_messages(anthropic_server: FakeLLMServer) -> None:
    request = ChatRequest(
        messages=(
            Message(role="system", content="Rule one."),
            Message(role="user", content="Hi"),
            Message(role="system", content="Rule two."),
        )
    )
    answer(model_for(anthropic_server), request)
    assert anthropic_server.requests[0].body["system"] == "Rule one.\n\nRule two."


@pytest.mark.parametrize(
    ("spec", "variable"),
    [(SPECS["anthropic"], "ANTHROPIC_API_KEY"), (SPECS["openai"], "OPENAI_API_KEY")],
)
def test_missing_api_key_names_the_variable(spec: str, variable: str) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        get_model(spec)


def test_api_key_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, openai_server: FakeLLMServer
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", openai_server.api_key)
    model = get_model(SPECS["openai"], base_url=openai_server.base_url, cache="off")
    assert answer(model, ask("hi")).text == "You said: hi"


def test_openai_compatible_needs_no_key_and_never_forwards_openai_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key")
    with FakeLLMServer("openai", api_key="EMPTY") as server:
        model = get_model(f"openai-compatible:{server.base_url}:org/model:7b", cache="off")
        result = answer(model, ask("hi", max_tokens=9))
        sent = server.requests[0]
    assert result.text == "You said: hi"
    assert sent.body["model"] == "org/model:7b"
    assert sent.body["max_tokens"] == 9 and "max_completion_tokens" not in sent.body
    assert "sk-real-openai-key" not in str(sent.headers)


@pytest.mark.parametrize("api", APIS)
def test_every_call_ends_and_usage_is_counted_once_under_faults(api: str) -> None:
    # 35% of requests fail: 429 + Retry-After, 500/529/503, timeouts, truncated JSON.
    faults = random_faults(0.35, seed=11)
    with FakeLLMServer(api, faults=faults, timeout_sleep_s=0.5, retry_after_s=0.01) as server:
        model = model_for(
            server,
            RetryPolicy(max_attempts=12, base_delay_s=0.005, max_delay_s=0.03),
            timeout_s=0.2,
        )
        requests = [
            ask(f"question {i}", purpose=("routing" if i % 3 else "generation")) for i in range(30)
        ]

        async def run_all() -> list[ChatResult | BaseException]:
            async with model:
                return await asyncio.gather(
                    *(model.generate(r) for r in requests), return_exceptions=True
                )

        outcomes = asyncio.run(run_all())
        log = server.requests

    assert all(isinstance(o, (ChatResult, LLMCallError)) for o in outcomes), outcomes
    for request, outcome in zip(requests, outcomes, strict=True):
        if isinstance(outcome, ChatResult):
            assert outcome.text == f"You said: {request.messages[-1].content}"
    kinds = Counter(entry.fault for entry in log)
    assert sum(n for kind, n in kinds.items() if kind) / len(log) >= 0.2
    assert {"rate_limit", "timeout", "truncated"} <= set(kinds)
    assert {"server_error", "overloaded"} & set(kinds)
    # The ledger holds exactly the usage of the responses the server completed, once each.
    input_tokens, output_tokens, calls = server.served_usage()
    assert (model.usage.input_tokens, model.usage.output_tokens, model.usage.calls) == (
        input_tokens,
        output_tokens,
        calls,
    )
    assert calls == sum(isinstance(o, ChatResult) for o in outcomes)
    assert sum(u.calls for u in model.ledger.by_purpose.values()) == calls


@pytest.mark.parametrize("api", APIS)
def test_gives_up_after_max_attempts_with_a_clear_error(api: str) -> None:
    with FakeLLMServer(api, faults=lambda index: "server_error") as server:
        model = model_for(server, RetryPolicy(max_attempts=3, base_delay_s=0.001))
        with pytest.raises(LLMCallError) as caught:
            answer(model, ask("hi"))
        assert len(server.requests) == 3
    message = str(caught.value)
    assert SPECS[api] in message and "3 attempts" in message and "500" in message
    assert caught.value.attempts == 3 and caught.value.retryable
    assert model.usage.calls == 0


@pytest.mark.parametrize("api", APIS)
def test_authentication_errors_are_not_retried(api: str) -> None:
    with FakeLLMServer(api) as server:
        model = get_model(SPECS[api], api_key="wrong-key", base_url=server.base_url, cache="off")
        with pytest.raises(LLMCallError, match="not retryable") as caught:
            answer(model, ask("hi"))
        assert len(server.requests) == 1
    assert caught.value.attempts == 1 and not caught.value.retryable


@pytest.mark.parametrize("api", APIS)
def test_retry_after_is_honoured(api: str) -> None:
    waits: list[float] = []

    async def record_sleep(seconds: float) -> None:
        waits.append(seconds)

    with FakeLLMServer(
        api, faults=scripted_faults("rate_limit", "server_error"), retry_after_s=0.3
    ) as server:
        provider = get_provider(SPECS[api], api_key=server.api_key, base_url=server.base_url)
        limits = Limits(RetryPolicy(base_delay_s=0.01, max_delay_s=0.01), sleep=record_sleep)
        assert answer(Model(provider, limits=limits), ask("hi")).text == "You said: hi"
    assert len(waits) == 2
    assert 0.3 <= waits[0] <= 0.3 + 0.03  # the server's Retry-After (+ at most 10% jitter)
    assert waits[1] <= 0.01  # a 500 without Retry-After: full-jitter backoff


def test_one_model_answers_several_calls_on_one_loop(anthropic_server: FakeLLMServer) -> None:
    model = model_for(anthropic_server)
    texts = [result.text for result in answers(model, *(ask(f"n{i}") for i in range(3)))]
    assert texts == ["You said: n0", "You said: n1", "You said: n2"]
    assert model.usage.calls == 3


@pytest.mark.parametrize(("spec", "variable"), [("anthropic:claude-sonnet-4-5", "ANTHROPIC_BASE_URL"),
                                                ("openai:gpt-4.1", "OPENAI_BASE_URL")])
def test_answers_from_another_server_are_cached_apart(spec: str, variable: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A rehearsal's recorded calls (the SDK pointed elsewhere by its base-URL variable) can
    never replay as the real API's."""
    from harness.llm import get_provider

    real = get_provider(spec, api_key="k").cache_identity
    monkeypatch.setenv(variable, "http://127.0.0.1:8765")
    local = get_provider(spec, api_key="k").cache_identity
    assert real == spec.split(":")[0] and local == f"{real}@http://127.0.0.1:8765"


def test_the_call_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.llm.errors import ConfigurationError
    from harness.llm.provider import call_timeout_s

    assert call_timeout_s() == 120.0
    monkeypatch.setenv("SUBTERRA_API_TIMEOUT_S", "1800")
    assert call_timeout_s() == 1800.0
    monkeypatch.setenv("SUBTERRA_API_TIMEOUT_S", "soon")
    with pytest.raises(ConfigurationError, match="SUBTERRA_API_TIMEOUT_S"):
        call_timeout_s()
