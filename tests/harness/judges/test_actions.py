"""The judge-free action verdict: end state against the path's, and per tool step the tool,
the arguments and the point in the conversation."""

from __future__ import annotations

from pathlib import Path

from harness.judges.actions import judge_actions, summarize_actions
from harness.llm.base import ToolCall
from harness.procedure import load_procedure
from harness.scenarios import load_scenario_set, sample_scenarios
from harness.transcript import Transcript, Turn

ROOT = Path(__file__).resolve().parents[3]


def _setup():
    proc = load_procedure(ROOT / "procedures" / "card_dispute.yaml")
    scenarios = sample_scenarios(load_scenario_set(ROOT / "scenarios" / "card_dispute.yaml"), proc, 20, 7)
    return proc, next(s for s in scenarios if s.path[-1] == "dispute_filed")


def _transcript(scenario, calls, end):
    turns = [Turn(speaker="agent", text="Card and name?"), Turn(speaker="user", text="...")]
    for i, (name, args, users_before) in enumerate(calls):
        while sum(t.speaker == "user" for t in turns) < users_before:
            turns += [Turn(speaker="agent", text="And?"), Turn(speaker="user", text="...")]
        call = ToolCall(id=f"c{i}", name=name, arguments=args)
        turns += [Turn(speaker="agent", text="", tool_call=call), Turn(speaker="tool", text="{}", tool_call=call)]
    return Transcript(procedure="card_dispute", condition="x", scenario_index=scenario.index, turns=turns,
                      end_reason="terminal", backend_end=end)


def test_right_calls_and_end_state_are_action_correct() -> None:
    proc, scenario = _setup()
    calls = [(c["tool"], c["arguments"], users) for c, users in zip(scenario.backend.expected_calls, (1, 2, 3),
                                                                      strict=True)]
    verdict = judge_actions(proc, scenario, _transcript(scenario, calls, scenario.backend.expected_end))
    assert verdict.action_correct and verdict.tool_call_accuracy == 1.0


def test_wrong_argument_wrong_point_and_end_state_are_told_apart() -> None:
    proc, scenario = _setup()
    expected = scenario.backend.expected_calls
    wrong_amount = {**expected[2]["arguments"], "amount": expected[2]["arguments"]["amount"] + 1}
    calls = [(expected[0]["tool"], expected[0]["arguments"], 1),
             (expected[1]["tool"], expected[1]["arguments"], 3),          # one customer turn too late
             (expected[2]["tool"], wrong_amount, 3)]
    end = {**scenario.backend.expected_end, "disputes": [{**scenario.backend.expected_end["disputes"][0],
                                                           "amount": wrong_amount["amount"]}]}
    verdict = judge_actions(proc, scenario, _transcript(scenario, calls, end))
    assert [s.correct for s in verdict.steps] == [True, False, False]
    assert verdict.steps[1].right_arguments and not verdict.steps[1].right_point
    assert not verdict.steps[2].right_arguments and verdict.wrong_arguments == ["file: amount"]
    assert not verdict.end_state_match and not verdict.action_correct
    summary = summarize_actions("x", [verdict])
    assert (summary.correct_steps, summary.tool_steps, summary.end_state_match_rate) == (1, 3, 0.0)
    assert {s.node: s.right_point for s in summary.steps} == {"file": 1, "find_charge": 0, "verify": 1}


def test_no_backend_no_verdict() -> None:
    proc = load_procedure(ROOT / "procedures" / "travel.yaml")
    scenario = sample_scenarios(load_scenario_set(ROOT / "scenarios" / "travel.yaml"), proc, 1, 0)[0]
    assert judge_actions(proc, scenario, _transcript(scenario, [], None)) is None
