"""The frontier conditions' tool use: the procedure's tools reach the vendor's API through the
LLM layer, the history carries calls and results in the vendor's shapes, and a call comes
back as `AgentReply.tool_call` for the runner (never executed by the condition)."""

from __future__ import annotations

import pytest

from harness.conditions import build_condition
from harness.conditions.base import history_messages
from harness.conditions.frontier_tools import native_history
from harness.llm import get_model
from harness.llm.base import ToolCall, ToolSpec
from harness.procedure import Procedure
from harness.transcript import Turn
from tests.harness.conditions.doubles import procedure, run, scenarios
from tests.harness.llm.fake_servers import FakeLLMServer

SPECS = {"anthropic": "anthropic:claude-haiku-4-5", "openai": "openai:gpt-4.1"}
LOOKUP = ToolSpec(name="lookup_booking", description="Find a booking by its reference.",
                  parameters={"type": "object", "properties": {"reference": {"type": "string"}},
                              "required": ["reference"]})
CALL = ToolCall(id="call_7", name="lookup_booking", arguments={"reference": "AB12"})


@pytest.fixture
def with_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    """Procedures that declare one tool (the declarations come with tool steps, issue 22)."""
    monkeypatch.setattr(Procedure, "tool_specs", lambda self: (LOOKUP,), raising=False)


def test_a_conversation_without_tool_turns_reads_as_before() -> None:
    turns = [Turn(speaker="agent", text="Hello."), Turn(speaker="user", text="Hi.")]
    assert native_history("S", turns, opener=True) == history_messages("S", turns, opener=True)
    assert procedure("travel").tool_specs() == ()


def test_calls_and_results_are_native_messages() -> None:
    turns = [Turn(speaker="agent", text="Hello."), Turn(speaker="user", text="Booking AB12."),
             Turn(speaker="agent", text="", tool_call=CALL),
             Turn(speaker="tool", text='{"result": "found"}', tool_call=CALL)]
    messages = native_history("S", turns, opener=True)
    assert [m.role for m in messages] == ["system", "user", "assistant", "user", "assistant", "tool"]
    assert messages[4].tool_calls == (CALL,) and messages[5].tool_call_id == "call_7"
    assert messages[5].content == '{"result": "found"}'


@pytest.mark.parametrize("api", sorted(SPECS))
def test_in_context_hands_the_tools_to_the_vendor_and_the_call_to_the_runner(api: str, with_tools: None) -> None:
    proc = procedure("travel")

    def calls(body: dict) -> dict:
        return {"text": "Let me look that up.", "tool_calls": [{"name": "lookup_booking",
                                                               "arguments": {"reference": "AB12"}}]}

    async def first_reply(server: FakeLLMServer):
        model = get_model(SPECS[api], api_key=server.api_key, base_url=server.base_url, cache="off")
        try:
            condition = build_condition("in_context", proc, model)
            return condition, await condition.session(scenarios("travel")[0]).reply([])
        finally:
            await model.aclose()

    with FakeLLMServer(api, reply=calls) as server:
        condition, reply = run(first_reply(server))
        body = server.requests[0].body
    assert reply.tool_call is not None and reply.tool_call.name == "lookup_booking"
    assert reply.tool_call.arguments == {"reference": "AB12"} and reply.text == "Let me look that up."
    names = [t["name"] if api == "anthropic" else t["function"]["name"] for t in body["tools"]]
    assert names == ["lookup_booking"]
    assert "tool-use function" in condition.system       # the prompt says how steps that act are done


def test_in_context_without_tools_sends_none() -> None:
    async def first_reply(server: FakeLLMServer):
        model = get_model(SPECS["openai"], api_key=server.api_key, base_url=server.base_url, cache="off")
        try:
            return await build_condition("in_context", procedure("travel"), model).session(
                scenarios("travel")[0]).reply([])
        finally:
            await model.aclose()

    with FakeLLMServer("openai") as server:
        reply = run(first_reply(server))
        body = server.requests[0].body
    assert reply.tool_call is None and "tools" not in body
