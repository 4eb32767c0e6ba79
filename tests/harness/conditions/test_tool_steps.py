"""Conditions at tool steps: the compiled model's call parsed from its words, the orchestrator
asking only for arguments (and falling back safely), the tracker following the result."""

from __future__ import annotations

import asyncio
from pathlib import Path

from harness.conditions import build_condition
from harness.conditions.tracker import FlowchartTracker
from harness.llm import ChatModel, ChatRequest, ChatResult, Usage, get_model
from harness.llm.base import ToolCall
from harness.procedure import load_procedure
from harness.scenarios import load_scenario_set, sample_scenarios
from harness.tool_format import call_text
from harness.transcript import Turn

ROOT = Path(__file__).resolve().parents[3]


def card_dispute():
    proc = load_procedure(ROOT / "procedures" / "card_dispute.yaml")
    scenarios = sample_scenarios(load_scenario_set(ROOT / "scenarios" / "card_dispute.yaml"), proc, 10, 7)
    return proc, next(s for s in scenarios if s.path[-1] == "dispute_filed")


class Says(ChatModel):
    name = "says"

    def __init__(self, text: str) -> None:
        self.text, self.requests = text, []

    async def generate(self, request: ChatRequest) -> ChatResult:
        self.requests.append(request)
        return ChatResult(text=self.text, usage=Usage(calls=1), model="says")


def _opening(proc, scenario) -> list[Turn]:
    return [Turn(speaker="agent", text="Hello, card and name please?"),
            Turn(speaker="user", text=f"{scenario.variables['card_last4']}, {scenario.variables['full_name']}")]


def test_subterranean_reads_the_compiled_models_call() -> None:
    proc, scenario = card_dispute()
    call = ToolCall(id="x", name="verify_identity", arguments={"card_last4": "1937", "full_name": "Ann"})
    session = build_condition("subterranean", proc, Says(call_text(call))).session(scenario)
    reply = asyncio.run(session.reply(_opening(proc, scenario)))
    assert reply.tool_call is not None and reply.tool_call.arguments == call.arguments and reply.text == ""
    broken = build_condition("subterranean", proc, Says('<tool_call>{"name": ')).session(scenario)
    reply = asyncio.run(broken.reply(_opening(proc, scenario)))
    assert reply.tool_call is None and reply.unparsed_tool_calls == 1


def test_orchestrated_asks_only_for_arguments_and_falls_back_safely() -> None:
    proc, scenario = card_dispute()
    model = Says("I'm not sure what you mean.")
    session = build_condition("orchestrated", proc, model).session(scenario)
    asyncio.run(session.reply([]))
    reply = asyncio.run(session.reply(_opening(proc, scenario)))
    request = model.requests[-1]
    assert [t.name for t in request.tools] == ["verify_identity"] and request.tool_choice == "verify_identity"
    assert request.output is not None and request.output.json_schema == proc.tools["verify_identity"].parameters
    assert reply.node == "verify" and reply.unparsed_tool_calls == 1
    assert reply.tool_call.arguments == {"card_last4": scenario.variables["card_last4"],
                                         "full_name": scenario.variables["full_name"]}


def test_orchestrated_takes_the_models_arguments_when_they_fit() -> None:
    proc, scenario = card_dispute()
    session = build_condition("orchestrated", proc, Says('{"card_last4": "0001", "full_name": "Someone Else"}')
                              ).session(scenario)
    asyncio.run(session.reply([]))
    reply = asyncio.run(session.reply(_opening(proc, scenario)))
    assert reply.tool_call.arguments == {"card_last4": "0001", "full_name": "Someone Else"}
    assert reply.unparsed_tool_calls == 0


def test_offline_model_calls_the_tool_with_the_customers_values() -> None:
    proc, scenario = card_dispute()
    session = build_condition("orchestrated", proc, get_model("offline")).session(scenario)
    asyncio.run(session.reply([]))
    reply = asyncio.run(session.reply(_opening(proc, scenario)))
    assert reply.tool_call.name == "verify_identity" and reply.unparsed_tool_calls == 0
    assert reply.tool_call.arguments["card_last4"] == scenario.variables["card_last4"]


def test_tracker_follows_the_result_not_a_guess() -> None:
    proc, _ = card_dispute()

    async def never(*_):
        raise AssertionError("a tool result needs no router")

    async def walk(result):
        tracker = FlowchartTracker(proc)
        await tracker.start(never)
        _, steps = await tracker.advance("1234, Ann", never)
        assert steps == ["verify"] and tracker.at_tool == "verify"
        return await tracker.after_tool(result, never)

    assert asyncio.run(walk("verified")) == (["ask_charge"], True)
    assert asyncio.run(walk("not_verified")) == (["not_verified"], True)
    assert asyncio.run(walk("error")) == (["not_verified"], False)     # a failed call never verifies
