"""The rehearsal gateway: the official SDKs talk to it as to their APIs; it forwards to an
OpenAI-compatible backend (here the fake server) or asks a model in its own process, and
says which model really answered."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator

import anthropic
import openai
import pytest
import uvicorn

from harness.llm import ChatModel, ChatRequest, ChatResult, Message, Usage, get_model
from harness.llm.base import OutputSchema, ToolCall, ToolSpec
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
    with pytest.raises(anthropic.BadRequestError, match="only text content and tool use"):
        client.messages.create(model="m", max_tokens=5, messages=[
            {"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "http://x"}}]}])
    client = openai.OpenAI(api_key="k", base_url=f"{url}/v1", max_retries=0)
    with pytest.raises(openai.BadRequestError, match="streaming"):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], stream=True)


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
    for body, message in (({"messages": []}, "empty"), ({"messages": [{"role": "robot", "content": "x"}]}, "role"),
                          ({"messages": [{"role": "user", "content": "x"}], "tools": [{}]}, "function tools"),
                          ({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "yaml"}},
                           "response_format")):
        with pytest.raises(ValueError, match=message):
            chat_request(body)


LOOKUP = ToolSpec(name="lookup_booking", description="Find a booking.",
                  parameters={"type": "object", "properties": {"reference": {"type": "string"}},
                              "required": ["reference"]})
ROUTE = OutputSchema(name="route", choices=("ask_dates", "escalate"))


class ToolCallingModel(RecordingModel):
    """Calls the first offered tool when it has no result yet; answers a choice with its last option."""

    async def generate(self, request: ChatRequest) -> ChatResult:
        self.requests.append(request)
        usage = Usage(input_tokens=7, output_tokens=3, calls=1)
        if request.output is not None:
            options = request.output.json_schema["properties"]["choice"]["enum"]   # the wire's wrapped choice
            return ChatResult(text=json.dumps({"choice": options[-1]}), model=self.name,
                              usage=usage, constrained=True)
        if request.tools and request.messages[-1].role != "tool":
            call = ToolCall(id="call_1", name=request.tools[0].name, arguments={"reference": "AB12"})
            return ChatResult(text="", model=self.name, usage=usage, tool_calls=(call,))
        return ChatResult(text=f"found: {request.messages[-1].content}", model=self.name, usage=usage)


@pytest.mark.parametrize("spec", ["anthropic:claude-sonnet-4-5", "openai:gpt-4.1"])
def test_tool_use_and_structured_output_through_the_gateway(spec: str) -> None:
    model = ToolCallingModel()
    with serving(build_app(ModelBackend(model), "local:recording")) as url:
        base_url = url if spec.startswith("anthropic") else f"{url}/v1"
        client = get_model(spec, api_key="k", base_url=base_url, cache="off")
        ask = ChatRequest(messages=(Message(role="system", content="Help."),
                                    Message(role="user", content="Booking AB12, please.")),
                          tools=(LOOKUP,), tool_choice="required", max_tokens=40)
        called = answer(client, ask)
        call = called.tool_calls[0]
        follow = ask.model_copy(update={"messages": (
            *ask.messages, Message(role="assistant", content="", tool_calls=(call,)),
            Message(role="tool", content='{"result": "found"}', tool_call_id=call.id))})
        spoke = answer(get_model(spec, api_key="k", base_url=base_url, cache="off"), follow)
        routed = answer(get_model(spec, api_key="k", base_url=base_url, cache="off"),
                        ChatRequest(messages=(Message(role="user", content="Which?"),), output=ROUTE, max_tokens=32))
    assert (call.name, call.arguments) == ("lookup_booking", {"reference": "AB12"}) and called.text == ""
    assert spoke.text == 'found: {"result": "found"}' and spoke.tool_calls == ()
    assert routed.text == "escalate" and routed.constrained
    first, second, third = model.requests
    # What reached the local model: the tools, the choice, the call and its result, the schema.
    assert first.tools == (LOOKUP,) and first.tool_choice == "required"
    assert [m.role for m in second.messages] == ["system", "user", "assistant", "tool"]
    assert second.messages[2].tool_calls[0].arguments == {"reference": "AB12"}
    assert second.messages[3].tool_call_id == call.id
    assert third.output is not None and third.output.json_schema["properties"]["choice"]["enum"] == ["ask_dates", "escalate"]


def test_anthropic_tool_use_translates_to_chat_and_back() -> None:
    chat = messages_to_chat({"max_tokens": 9, "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object"}}],
                             "tool_choice": {"type": "any"},
                             "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}},
                             "messages": [
                                 {"role": "user", "content": "hi"},
                                 {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
                                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"},
                                                              {"type": "text", "text": "and?"}]}]}, "m")
    assert chat["tools"] == [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}]
    assert chat["tool_choice"] == "required"
    assert chat["response_format"]["json_schema"]["schema"] == {"type": "object"}
    assert chat["messages"][1:] == [
        {"role": "assistant", "content": None, "tool_calls": [{"id": "t1", "type": "function",
                                                               "function": {"name": "f", "arguments": '{"a": 1}'}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "ok"}, {"role": "user", "content": "and?"}]
    message = chat_to_message({"id": "x", "usage": {}, "choices": [{"finish_reason": "tool_calls", "message": {
        "content": None, "tool_calls": [{"id": "c9", "type": "function", "function": {"name": "f", "arguments": '{"a": 2}'}}]}}]},
        "local:m")
    assert message["content"] == [{"type": "tool_use", "id": "c9", "name": "f", "input": {"a": 2}}]
    assert message["stop_reason"] == "tool_use"


def test_a_local_model_streams_its_chat_completions_through_the_openai_sdk() -> None:
    with serving(build_app(ModelBackend(RecordingModel()), "travel_booking")) as url:
        client = openai.OpenAI(api_key="k", base_url=f"{url}/v1", max_retries=0)
        chunks = list(client.chat.completions.create(
            model="travel_booking", messages=[{"role": "user", "content": "hello"}], max_tokens=20,
            stream=True, stream_options={"include_usage": True}))
        whole = client.chat.completions.create(model="travel_booking", max_tokens=20,
                                               messages=[{"role": "user", "content": "hello"}])
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content == "heard hello"
    assert [c.choices[0].finish_reason for c in chunks if c.choices] == [None, "stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert {c.model for c in chunks} == {"travel_booking"}


def test_only_the_served_name_is_answered_when_pinned() -> None:
    with serving(build_app(ModelBackend(RecordingModel()), "travel_booking", only_served_name=True)) as url:
        client = openai.OpenAI(api_key="k", base_url=f"{url}/v1", max_retries=0)
        said = client.chat.completions.create(model="travel_booking", max_tokens=5,
                                              messages=[{"role": "user", "content": "hi"}])
        assert said.model == "travel_booking"
        with pytest.raises(openai.NotFoundError, match="`zoom` does not exist") as refused:
            client.chat.completions.create(model="zoom", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
        assert refused.value.code == "model_not_found"
        with pytest.raises(anthropic.NotFoundError, match="`zoom` does not exist"):
            anthropic.Anthropic(api_key="k", base_url=url, max_retries=0).messages.create(
                model="zoom", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
        # Sampling options the local provider cannot honour are refused, not ignored.
        for options, message in (({"n": 2}, "n > 1"), ({"logprobs": True}, "logprobs"),
                                 ({"temperature": 0.7, "top_p": 0.5}, "top_p")):
            with pytest.raises(openai.BadRequestError, match=message):
                client.chat.completions.create(model="travel_booking", max_tokens=5,
                                               messages=[{"role": "user", "content": "hi"}], **options)
