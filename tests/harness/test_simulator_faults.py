"""The simulated customer's faults: each kind on hand-written transcripts, and no false alarm
on clean conversations (the offline simulator against offline conditions)."""

from __future__ import annotations

import asyncio

import pytest

from harness.conditions import build_condition
from harness.llm import get_model
from harness.llm.base import ToolCall
from harness.procedure import load_procedure
from harness.runner import run_conversation
from harness.scenarios import load_scenario_set, sample_scenarios
from harness.simulator import UserSimulator
from harness.simulator_faults import fault_question, parse_fault_answer, simulator_faults
from harness.transcript import Transcript, Turn
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def travel():
    procedure = load_procedure(ROOT / "procedures/travel.yaml")
    scenario_set = load_scenario_set(ROOT / "scenarios/travel.yaml")
    domains = {k: v for k, v in scenario_set.variables.items() if isinstance(v, list)}
    return procedure, scenario_set, domains


@pytest.fixture
def scenario(travel):
    procedure, scenario_set, _ = travel
    s = sample_scenarios(scenario_set, procedure, 1, 7)[0]
    return s.model_copy(update={"variables": {**s.variables, "destination": "Thailand", "travel_month": "March"},
                                "persona": {**s.persona, "challenge": "none"}})


def _transcript(*turns: tuple[str, str], end: str = "user_ended") -> Transcript:
    return Transcript(procedure="travel_booking", condition="langgraph", scenario_index=0,
                      turns=[Turn(speaker=s, text=t) for s, t in turns], end_reason=end)  # type: ignore[arg-type]


def _kinds(faults) -> list[str]:
    return [f.kind for f in faults]


@pytest.mark.parametrize("condition", ["langgraph", "in_context"])
def test_clean_offline_conversations_raise_no_alarm(travel, condition) -> None:
    procedure, scenario_set, domains = travel
    model = get_model("offline")
    agent, user = build_condition(condition, procedure, model), UserSimulator(model, procedure)
    scenarios = [s.of_trial(t) for s in sample_scenarios(scenario_set, procedure, 8, 7) for t in range(2)]

    async def all_of_them():
        return await asyncio.gather(*(run_conversation(agent, user, s) for s in scenarios))

    for transcript, s in zip(asyncio.run(all_of_them()), scenarios, strict=True):
        assert simulator_faults(transcript, s, procedure, domains=domains) == [], (s.index, s.trial)


def test_a_customer_contradicting_its_scenario(travel, scenario) -> None:
    procedure, _, domains = travel
    t = _transcript(("agent", "Hi! Where would you like to go?"),
                    ("user", "We'd love to go to Japan in March, please."), end="terminal")
    faults = simulator_faults(t, scenario, procedure, domains=domains)
    assert _kinds(faults) == ["contradicts_scenario"] and faults[0].turn == 1
    assert "destination 'Japan'" in faults[0].detail and "'Thailand'" in faults[0].detail
    # Its own value said too, or a persona that changes its mind: not a contradiction.
    t2 = _transcript(("agent", "Hi!"), ("user", "Thailand, not Japan, in March."), end="terminal")
    assert simulator_faults(t2, scenario, procedure, domains=domains) == []
    fickle = scenario.model_copy(update={"persona": {**scenario.persona, "challenge": "changes their mind"}})
    assert simulator_faults(t, fickle, procedure, domains=domains) == []


def test_a_customer_ending_before_the_agent_could_finish(travel, scenario) -> None:
    procedure, _, domains = travel
    t = _transcript(("agent", "Hi! Where would you like to go?"), ("user", "Thailand in March."))
    faults = simulator_faults(t, scenario, procedure, domains=domains)
    assert _kinds(faults) == ["ended_early"] and "after 1 of its" in faults[0].detail
    # The agent had reached a terminal: ending there is no fault.
    assert simulator_faults(t, scenario, procedure, domains=domains, agent_finished=True) == []


def test_a_customer_speaking_as_the_agent(travel, scenario) -> None:
    procedure, _, domains = travel
    greeting = "Hi there, and welcome! Where are you dreaming of going, and who's coming along?"
    t = _transcript(("agent", "Hello! Where to?"), ("user", "Agent: Sure, I can help you book that."),
                    ("agent", "Which month suits you?"), ("user", "Which month suits you?"),
                    ("agent", "Anything else?"), ("user", greeting), end="terminal")
    faults = simulator_faults(t, scenario, procedure, domains=domains)
    assert _kinds(faults) == ["spoke_as_agent"] * 3 and [f.turn for f in faults] == [1, 3, 5]
    assert [f.detail for f in faults] == ["opens with an agent's label", "repeats an agent turn",
                                          "speaks an agent line of the procedure"]


def test_a_customer_repeating_itself_into_the_turn_cap(travel, scenario) -> None:
    procedure, _, domains = travel
    agent = ["Where to?", "Which month?", "How many days?", "What budget?", "Who is going?", "Any interests?"]
    looping = [x for a in agent for x in (("agent", a), ("user", "Thailand in March, please book it."))]
    faults = simulator_faults(_transcript(*looping, end="turn_cap"), scenario, procedure, domains=domains)
    assert _kinds(faults) == ["repeated_into_cap"] and "5 customer turns" in faults[0].detail
    # An agent stuck asking the same question is the agent's loop, not the customer's.
    stuck = [x for _ in agent for x in (("agent", "Where to?"), ("user", "Thailand in March, please book it."))]
    assert simulator_faults(_transcript(*stuck, end="turn_cap"), scenario, procedure, domains=domains) == []


def test_tool_turns_are_skipped(travel, scenario) -> None:
    procedure, _, domains = travel
    call = ToolCall(id="c1", name="search_trips", arguments={"destination": "Japan"})
    t = Transcript(procedure="travel_booking", condition="langgraph", scenario_index=0, end_reason="terminal",
                   turns=[Turn(speaker="agent", text="", tool_call=call),
                          Turn(speaker="tool", text='{"trips": ["Japan Explorer"]}', tool_call=call),
                          Turn(speaker="agent", text="Where would you like to go?"),
                          Turn(speaker="user", text="Thailand in March, please.")])
    assert simulator_faults(t, scenario, procedure, domains=domains) == []


def test_the_llm_judge_question_and_its_answer(travel, scenario) -> None:
    procedure, _, _ = travel
    t = _transcript(("agent", "Hi!"), ("user", "What's the weather like on Mars?"))
    request = fault_question(t, scenario, procedure)
    assert "destination: Thailand" in request.messages[0].content
    assert "Customer: What's the weather like on Mars?" in request.messages[1].content
    fault = parse_fault_answer("YES - it forgot it wanted a trip")
    assert fault is not None and fault.kind == "judged" and fault.detail == "it forgot it wanted a trip"
    assert parse_fault_answer("NO, the customer stayed on task") is None
    assert parse_fault_answer("") is None
