"""The rehearsal gateway: the official SDKs talk to it as to their APIs; it forwards to an
OpenAI-compatible backend (here the fake server) or asks a model in its own process, and
says which model really answered."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import anthropic
import openai
import pytest
import uvicorn

from harness.llm import ChatModel, ChatRequest, ChatResult, Message, Usage, get_model
from harness.servers.gateway import (
    ModelBackend,
    ServerBackend,
    build_app,
    chat_request,
    chat_to_message,
    messages_to_chat,
)
from harness.servers.model_server import free_port
from tests.harness.llm.calls import answer
from tests.harness.llm.fake_servers import FakeLLMServer


@contextlib.contextmanager
def serving(app) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def gateway():
    with FakeLLMServer("openai", api_key="EMPTY", reply=lambda body: f"echo {body['model']}: "
                       + body["messages"][-1]["content"]) as backend:
        with serving(build_app(ServerBackend(backend.base_url, "/served/model"), "local:tiny")) as url:
            yield url, backend


class RecordingModel(ChatModel):
    """Answers with what it was asked, and keeps the requests (a stand-in for the local model)."""

    name = "local:recording"

    def __init__(self) -> None:
        self.requests: list[ChatRequest] = []

    async def generate(self, request: ChatRequest) -> ChatResult:
        self.requests.append(request)
        text = f"heard {request.messages[-1].content}"[: request.max_tokens]
        return ChatResult(text=text, model=self.name,
                          usage=Usage(input_tokens=7, output_tokens=min(len(text), request.max_tokens), calls=1))


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
    with pytest.raises(openai.BadRequestError, match="tools"):     # refused, not passed on to the server
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], tools=[
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])


def test_a_dead_model_server_is_a_502_that_names_it() -> None:
    from fastapi.testclient import TestClient

    backend = f"http://127.0.0.1:{free_port()}/v1"      # nothing listens there
    client = TestClient(build_app(ServerBackend(backend, "/served/model"), "local:tiny"))
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


def test_a_model_in_the_gateways_process_answers_both_sdks() -> None:
    model = RecordingModel()
    with serving(build_app(ModelBackend(model), "local:recording")) as url:
        said = answer(get_model("anthropic:claude-sonnet-4-5", api_key="k", base_url=url, cache="off"),
                      ChatRequest(messages=(Message(role="system", content="Be brief."),
                                            Message(role="user", content="Hello")), max_tokens=20, stop=("END",)))
        cut = answer(get_model("openai:gpt-4.1", api_key="k", base_url=f"{url}/v1", cache="off"),
                     ChatRequest(messages=(Message(role="user", content="a long question"),), max_tokens=4, seed=3))
    assert (said.text, said.model, said.usage.output_tokens) == ("heard Hello", "local:recording", 11)
    assert cut.text == "hear" and cut.usage.output_tokens == 4
    first, second = model.requests
    assert [m.role for m in first.messages] == ["system", "user"] and first.stop == ("END",)
    assert (first.max_tokens, second.max_tokens, second.seed) == (20, 4, 3)   # max_completion_tokens read too


def test_chat_bodies_the_model_cannot_take_are_refused() -> None:
    assert chat_request({"messages": [{"role": "developer", "content": "x"}, {"role": "user", "content": "y"}],
                         "stop": "Z"}).messages[0].role == "system"
    for body, message in (({"messages": []}, "empty"), ({"messages": [{"role": "tool", "content": "x"}]}, "role"),
                          ({"messages": [{"role": "user", "content": "x"}], "tools": [{}]}, "tools")):
        with pytest.raises(ValueError, match=message):
            chat_request(body)
