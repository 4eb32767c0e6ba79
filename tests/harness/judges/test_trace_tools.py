"""The trace judge places tool steps by the call they make (never by words): a conversation
through tool steps decodes on-chart, and a call of the wrong tool shows as an off-chart step."""

from __future__ import annotations

import asyncio
from pathlib import Path

from compile.datagen import DatagenConfig, generate_conversation
from harness.conditions import build_condition
from harness.judges.trace import TraceJudge
from harness.llm import get_model
from harness.llm.base import ToolCall
from harness.procedure import load_procedure
from harness.runner import run_conversations
from harness.scenarios import load_scenario_set, sample_scenarios
from harness.simulator import UserSimulator

ROOT = Path(__file__).resolve().parents[3]


def test_tool_steps_decode_on_chart_and_a_wrong_tool_does_not() -> None:
    proc = load_procedure(ROOT / "procedures" / "card_dispute.yaml")
    scenario_set = load_scenario_set(ROOT / "scenarios" / "card_dispute.yaml")
    offline = get_model("offline")
    train = [asyncio.run(generate_conversation(offline, proc, s, DatagenConfig(n=30)))
             for s in sample_scenarios(scenario_set, proc, 30, 42)]
    judge = TraceJudge.fit(proc, train)
    scenarios = sample_scenarios(scenario_set, proc, 6, 7)
    transcripts = asyncio.run(run_conversations(build_condition("orchestrated", proc, offline),
                                                UserSimulator(offline, proc), scenarios))
    for transcript, scenario in zip(transcripts, scenarios, strict=True):
        verdict = judge.judge(transcript.turns, scenario.path)
        assert verdict.valid, (scenario.index, verdict.off_chart_steps)
        tool_turns = [i for i, t in enumerate(transcript.turns) if t.tool_call is not None]
        assert all(proc.nodes[verdict.nodes[i]].tool == transcript.turns[i].tool_call.name for i in tool_turns)
    longest = max(transcripts, key=lambda t: len(t.turns))
    first_call = next(i for i, t in enumerate(longest.turns) if t.tool_call is not None)
    wrong = ToolCall(id="w", name="file_dispute", arguments={})
    turns = list(longest.turns)
    turns[first_call] = turns[first_call].model_copy(update={"tool_call": wrong})
    turns[first_call + 1] = turns[first_call + 1].model_copy(update={"tool_call": wrong})
    verdict = judge.judge(turns)
    assert not verdict.valid and verdict.nodes[first_call] == "file"
