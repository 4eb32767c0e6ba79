"""The runner executes tool calls against the scenario's own backend copy: call and result turns,
the session asked again before the customer speaks, failures as incidents, the end state kept."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

from harness.conditions import build_condition
from harness.conditions.base import AgentReply, Condition, ConditionSession
from harness.judges.actions import judge_actions
from harness.llm import get_model
from harness.llm.base import ToolCall
from harness.procedure import load_procedure
from harness.runner import run_conversation, run_conversations
from harness.scenarios import Scenario, load_scenario_set, sample_scenarios
from harness.simulator import UserSimulator
from harness.transcript import Turn

ROOT = Path(__file__).resolve().parents[2]
MINI = Path(__file__).parent / "backend"


def card_dispute(n: int = 10) -> tuple:
    proc = load_procedure(ROOT / "procedures" / "card_dispute.yaml")
    return proc, sample_scenarios(load_scenario_set(ROOT / "scenarios" / "card_dispute.yaml"), proc, n, 7)


def test_offline_orchestrated_conversations_act_and_end_where_the_path_says() -> None:
    proc, scenarios = card_dispute()
    offline = get_model("offline")
    transcripts = asyncio.run(run_conversations(build_condition("orchestrated", proc, offline),
                                                UserSimulator(offline, proc), scenarios))
    for transcript, scenario in zip(transcripts, scenarios, strict=True):
        verdict = judge_actions(proc, scenario, transcript)
        assert verdict is not None and verdict.action_correct, (scenario.index, verdict)
        assert transcript.backend_end == scenario.backend.expected_end
        for i, turn in enumerate(transcript.turns):
            if turn.speaker == "tool":      # a result always follows its call, and the agent speaks next
                assert transcript.turns[i - 1].tool_call == turn.tool_call
                assert transcript.turns[i + 1].speaker == "agent"


class Scripted(ConditionSession):
    """Calls `calls` in order, then ends at `terminal`."""

    def __init__(self, calls: list[ToolCall], terminal: str) -> None:
        self.calls, self.terminal, self.seen = list(calls), terminal, []

    async def reply(self, turns: Sequence[Turn]) -> AgentReply:
        self.seen.append(len(turns))
        if self.calls:
            return AgentReply(text="", tool_call=self.calls.pop(0))
        return AgentReply(text="Done.", node=self.terminal, terminal=self.terminal)


class ScriptedCondition(Condition):
    name = "orchestrated"
    model_role = "base"
    default_model = None
    description = "scripted"

    def __init__(self, procedure, calls, terminal) -> None:
        super().__init__(procedure, get_model("offline"))
        self.calls, self.terminal = calls, terminal

    def session(self, scenario: Scenario) -> ConditionSession:
        return Scripted(self.calls, self.terminal)


def _mini() -> tuple:
    proc = load_procedure(MINI / "tool_mini.yaml")
    return proc, sample_scenarios(load_scenario_set(MINI / "tool_mini_scenarios.yaml"), proc, 4, 0)


def test_a_tool_that_raises_is_an_incident_and_an_error_result() -> None:
    proc, scenarios = _mini()
    condition = ScriptedCondition(proc, [ToolCall(id="", name="book_ride", arguments={"address": "CRASH", "seats": 1}),
                                         ToolCall(id="x", name="no_such_tool", arguments={})], "sorry")
    transcript = asyncio.run(run_conversation(condition, UserSimulator(get_model("offline"), proc), scenarios[0]))
    tool_turns = [t for t in transcript.turns if t.speaker == "tool"]
    assert [json.loads(t.text)["result"] for t in tool_turns] == ["error", "error"]
    assert "driver service is down" in tool_turns[0].text and "no tool named 'no_such_tool'" in tool_turns[1].text
    assert transcript.incidents.tool_errors == 2
    assert tool_turns[0].tool_call.id == "call_1"        # an id is given to a call that had none
    assert transcript.end_reason == "terminal"


def test_each_conversation_acts_on_its_own_copy() -> None:
    proc, scenarios = _mini()
    scenario = next(s for s in scenarios if s.path[-1] == "confirmed")
    args = {"address": scenario.variables["address"], "seats": scenario.variables["seats"]}
    condition = ScriptedCondition(proc, [], "confirmed")
    sim = UserSimulator(get_model("offline"), proc)
    first = asyncio.run(run_conversation(
        ScriptedCondition(proc, [ToolCall(id="a", name="book_ride", arguments=args)], "confirmed"), sim, scenario))
    again = asyncio.run(run_conversation(
        ScriptedCondition(proc, [ToolCall(id="a", name="book_ride", arguments=args)], "confirmed"), sim, scenario))
    assert json.loads(first.turns[2].text)["result"] == json.loads(again.turns[2].text)["result"] == "booked"
    assert first.backend_end == again.backend_end != scenario.backend.initial
    untouched = asyncio.run(run_conversation(condition, sim, scenario))
    assert untouched.backend_end == scenario.backend.initial
    verdict = judge_actions(proc, scenario, untouched)
    assert not verdict.end_state_match and verdict.tool_call_accuracy == 0.0
