"""The rehearsal gateway: the official SDKs talk to it as to their APIs; it forwards to an
OpenAI-compatible backend (here the fake server) and says which model really answered."""

from __future__ import annotations

import threading
import time

import anthropic
import openai
import pytest
import uvicorn

from harness.llm import ChatRequest, Message, get_model
from harness.llm.gateway import build_app, chat_to_message, messages_to_chat
from harness.llm.serving import free_port
from tests.harness.llm.calls import answer
from tests.harness.llm.fake_servers import FakeLLMServer


@pytest.fixture
def gateway():
    with FakeLLMServer("openai", api_key="EMPTY", reply=lambda body: f"echo {body['model']}: "
                       + body["messages"][-1]["content"]) as backend:
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(build_app(backend.base_url, "/served/model", "local:tiny"),
                                               host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", backend
        server.should_exit = True
        thread.join(10)


def test_anthropic_sdk_through_the_gateway(gateway) -> None:
    url, backend = gateway
    model = get_model("anthropic:claude-sonnet-4-5", api_key="k", base_url=url, cache="off")
    result = answer(model, ChatRequest(messages=(Message(role="system", content="Be brief."),
                                                 Message(role="user", content="Hello")),
                                       max_tokens=20, stop=("\n\n",)))
    assert result.text == "echo /served/model: Hello"       # the backend got its own model name
    assert result.model == "local:tiny"                    # and the answer says who spoke
    assert result.usage.calls == 1 and result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    sent = backend.requests[-1].body
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["max_tokens"] == 20 and sent["stop"] == ["\n\n"]


def test_openai_sdk_through_the_gateway(gateway) -> None:
    url, _ = gateway
    model = get_model("openai:gpt-4.1", api_key="k", base_url=f"{url}/v1", cache="off")
    result = answer(model, ChatRequest(messages=(Message(role="user", content="Hi"),), max_tokens=5))
    assert result.text == "echo /served/model: Hi" and result.model == "local:tiny"


def test_unsupported_requests_get_the_apis_own_errors(gateway) -> None:
    url, _ = gateway
    client = anthropic.Anthropic(api_key="k", base_url=url, max_retries=0)
    with pytest.raises(anthropic.BadRequestError, match="only text content"):
        client.messages.create(model="m", max_tokens=5, messages=[
            {"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "http://x"}}]}])
    client = openai.OpenAI(api_key="k", base_url=f"{url}/v1", max_retries=0)
    with pytest.raises(openai.BadRequestError, match="streaming"):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], stream=True)


def test_a_dead_model_server_is_a_502_that_names_it() -> None:
    from fastapi.testclient import TestClient

    backend = f"http://127.0.0.1:{free_port()}/v1"      # nothing listens there
    client = TestClient(build_app(backend, "/served/model", "local:tiny"))
    for path in ("/v1/messages", "/v1/chat/completions"):
        answer = client.post(path, json={"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
        assert answer.status_code == 502
        assert answer.json()["error"]["message"].startswith(f"the model server at {backend} did not answer")


def test_translation_both_ways() -> None:
    chat = messages_to_chat({"system": [{"type": "text", "text": "S"}], "max_tokens": 9, "temperature": 0,
                             "messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]},
                            "m")
    assert chat == {"model": "m", "max_tokens": 9, "temperature": 0, "messages": [
        {"role": "system", "content": "S"}, {"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]}
    message = chat_to_message({"id": "x", "choices": [{"message": {"content": None}, "finish_reason": "length"}],
                               "usage": {"prompt_tokens": 3, "completion_tokens": 9}}, "local:m")
    assert message["content"] == [{"type": "text", "text": ""}] and message["stop_reason"] == "max_tokens"
    assert message["usage"]["output_tokens"] == 9 and message["model"] == "local:m"
    with pytest.raises(ValueError, match="max_tokens"):
        messages_to_chat({"messages": []}, "m")
