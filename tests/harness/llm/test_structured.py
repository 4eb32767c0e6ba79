"""Structured outputs and tool use through the real SDKs, against fake servers that check the
vendors' fields; the wire shape of an `OutputSchema`; cache keys that include the schema."""

from __future__ import annotations

import json

import pytest

from harness.llm import ChatRequest, Message, get_model
from harness.llm.base import Hint, OutputSchema, ToolCall, ToolSpec
from harness.llm.cache import cache_key
from harness.llm.structured import reply_text, strip_for_openai, wire_schema
from tests.harness.llm.calls import answer
from tests.harness.llm.fake_servers import FakeLLMServer, structured_reply

SPECS = {"anthropic": "anthropic:claude-haiku-4-5", "openai": "openai:gpt-4.1"}
APIS = sorted(SPECS)

RUBRIC = OutputSchema(name="rubric", json_schema={
    "type": "object",
    "properties": {"rationale": {"type": "string", "maxLength": 300},
                   "score": {"type": "integer", "enum": [1, 2, 3, 4, 5]}},
    "required": ["rationale", "score"], "additionalProperties": False})
ROUTE = OutputSchema(name="route", choices=("ask_dates", "ask_dates_again", "escalate"))
LOOKUP = ToolSpec(name="lookup_booking", description="Find a booking by its reference.",
                  parameters={"type": "object", "properties": {"reference": {"type": "string"}},
                              "required": ["reference"]})


def ask(text: str, **fields: object) -> ChatRequest:
    return ChatRequest(messages=(Message(role="system", content="Be brief."),
                                 Message(role="user", content=text)), **fields)


def model_for(server: FakeLLMServer):
    return get_model(SPECS[server.api], api_key=server.api_key, base_url=server.base_url, cache="off")


def test_a_choice_travels_as_a_strict_object_and_comes_back_bare() -> None:
    schema = wire_schema(ROUTE)
    assert schema["properties"]["choice"]["enum"] == list(ROUTE.choices)
    assert schema["required"] == ["choice"] and schema["additionalProperties"] is False
    assert reply_text(ROUTE, '{"choice": "escalate"}') == "escalate"
    assert reply_text(ROUTE, "not json") == "not json"          # left for the caller's parser
    assert reply_text(RUBRIC, '{"score": 2}') == '{"score": 2}'   # a schema's document unchanged


def test_openai_strict_mode_gets_no_length_keywords() -> None:
    stripped = strip_for_openai(RUBRIC.json_schema)
    assert "maxLength" not in stripped["properties"]["rationale"]
    assert "maxLength: 300" in stripped["properties"]["rationale"]["description"]
    assert stripped["properties"]["score"] == RUBRIC.json_schema["properties"]["score"]


@pytest.mark.parametrize("api", APIS)
def test_a_schema_is_sent_in_the_vendors_structured_output_field(api: str) -> None:
    with FakeLLMServer(api, reply=structured_reply) as server:
        result = answer(model_for(server), ask("Score it.", output=RUBRIC))
        body = server.requests[0].body
    if api == "anthropic":
        sent = body["output_config"]["format"]
        assert sent["type"] == "json_schema"
        assert sent["schema"]["properties"]["score"]["enum"] == [1, 2, 3, 4, 5]
        assert sent["schema"]["additionalProperties"] is False
        assert "response_format" not in body
    else:
        sent = body["response_format"]
        assert sent["type"] == "json_schema"
        assert sent["json_schema"]["name"] == "rubric" and sent["json_schema"]["strict"] is True
        assert sent["json_schema"]["schema"]["required"] == ["rationale", "score"]
        assert "output_config" not in body
    assert json.loads(result.text)["score"] == 5 and result.constrained


@pytest.mark.parametrize("api", APIS)
def test_a_choice_is_answered_with_the_bare_option(api: str) -> None:
    with FakeLLMServer(api, reply=structured_reply) as server:
        result = answer(model_for(server), ask("Which?", output=ROUTE, max_tokens=32))
    assert result.text == "escalate" and result.constrained


@pytest.mark.parametrize("api", APIS)
def test_requests_without_output_or_tools_send_neither(api: str) -> None:
    with FakeLLMServer(api) as server:
        result = answer(model_for(server), ask("hi"))
        body = server.requests[0].body
    assert not {"output_config", "response_format", "tools", "tool_choice"} & set(body)
    assert not result.constrained and result.tool_calls == ()
    assert "constrained" not in result.model_dump() and "tool_calls" not in result.model_dump()


def _calls_lookup(body: dict) -> dict:
    return {"text": "", "tool_calls": [{"name": "lookup_booking", "arguments": {"reference": "AB12"}}]}


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(("choice", "anthropic_choice", "openai_choice"), [
    ("auto", {"type": "auto"}, "auto"),
    ("required", {"type": "any"}, "required"),
    ("lookup_booking", {"type": "tool", "name": "lookup_booking"},
     {"type": "function", "function": {"name": "lookup_booking"}}),
])
def test_tools_are_declared_and_called_in_the_vendors_shapes(api: str, choice: str, anthropic_choice: dict,
                                                             openai_choice: object) -> None:
    with FakeLLMServer(api, reply=_calls_lookup) as server:
        result = answer(model_for(server), ask("My reference is AB12.", tools=(LOOKUP,), tool_choice=choice))
        body = server.requests[0].body
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("lookup_booking", {"reference": "AB12"})]
    assert result.tool_calls[0].id
    if api == "anthropic":
        assert body["tools"] == [{"name": "lookup_booking", "description": LOOKUP.description,
                                  "input_schema": LOOKUP.parameters}]
        assert body["tool_choice"] == anthropic_choice
    else:
        assert body["tools"] == [{"type": "function", "function": {
            "name": "lookup_booking", "description": LOOKUP.description, "parameters": LOOKUP.parameters}}]
        assert body["tool_choice"] == openai_choice


@pytest.mark.parametrize("api", APIS)
def test_a_history_with_tool_calls_and_results_uses_the_vendors_message_shapes(api: str) -> None:
    call = ToolCall(id="call_1", name="lookup_booking", arguments={"reference": "AB12"})
    request = ChatRequest(tools=(LOOKUP,), messages=(
        Message(role="system", content="Be brief."),
        Message(role="user", content="My reference is AB12."),
        Message(role="assistant", content="Let me look.", tool_calls=(call,)),
        Message(role="tool", content='{"found": true}', tool_call_id="call_1"),
    ))
    with FakeLLMServer(api) as server:
        answer(model_for(server), request)
        messages = server.requests[0].body["messages"]
    if api == "anthropic":
        assert messages[1] == {"role": "assistant", "content": [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "call_1", "name": "lookup_booking", "input": {"reference": "AB12"}}]}
        assert messages[2] == {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": '{"found": true}'}]}
    else:
        assert messages[2] == {"role": "assistant", "content": "Let me look.", "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "lookup_booking", "arguments": '{"reference": "AB12"}'}}]}
        assert messages[3] == {"role": "tool", "tool_call_id": "call_1", "content": '{"found": true}'}


def test_openai_arguments_that_are_not_json_reach_the_caller_as_text() -> None:
    def broken(body: dict) -> dict:
        return {"text": "", "tool_calls": [{"name": "lookup_booking", "arguments": "AB12"}]}

    with FakeLLMServer("openai", reply=broken) as server:
        result = answer(model_for(server), ask("hi", tools=(LOOKUP,)))
    # The fake sends json.dumps("AB12"): valid JSON, but not an object.
    assert result.tool_calls[0].arguments == {"_unparsed": '"AB12"'}


def test_cache_keys_include_schema_and_tools_only_when_present() -> None:
    plain = ask("hi", hint=Hint(task="judge"))
    key = cache_key("openai", "gpt-4.1", plain)
    # The key of a request without the new fields is what it was before them (recordings replay).
    from harness.files import digest
    old = digest({"v": 1, "provider": "openai", "model": "gpt-4.1",
                  "messages": [["system", "Be brief."], ["user", "hi"]], "max_tokens": 512,
                  "temperature": 0.0, "seed": None, "stop": [], "trial": 0,
                  "hint": plain.hint.model_dump(mode="json")})
    assert key == old
    keys = {key, cache_key("openai", "gpt-4.1", plain.model_copy(update={"output": RUBRIC})),
            cache_key("openai", "gpt-4.1", plain.model_copy(update={"output": ROUTE})),
            cache_key("openai", "gpt-4.1", plain.model_copy(update={"tools": (LOOKUP,)})),
            cache_key("openai", "gpt-4.1", plain.model_copy(update={"tools": (LOOKUP,), "tool_choice": "required"}))}
    assert len(keys) == 5
    call = ToolCall(id="c1", name="lookup_booking", arguments={"reference": "AB12"})
    with_call = plain.model_copy(update={"messages": (*plain.messages, Message(role="assistant", content="",
                                                                               tool_calls=(call,)))})
    with_text = plain.model_copy(update={"messages": (*plain.messages, Message(role="assistant", content=""))})
    assert cache_key("openai", "gpt-4.1", with_call) != cache_key("openai", "gpt-4.1", with_text)


def test_a_recorded_tool_call_replays(tmp_path) -> None:
    request = ask("My reference is AB12.", tools=(LOOKUP,))
    with FakeLLMServer("openai", reply=_calls_lookup) as server:
        recorded = answer(get_model(SPECS["openai"], api_key=server.api_key, base_url=server.base_url,
                                    cache="record", cache_path=tmp_path / "c.sqlite"), request)
        base_url = server.base_url
    replayed = answer(get_model(SPECS["openai"], api_key="x", base_url=base_url, cache="replay",
                                cache_path=tmp_path / "c.sqlite"), request)
    assert replayed.cached and replayed.tool_calls == recorded.tool_calls
