"""All four conditions, offline, on chains of agent steps, agent-side decisions,
customer-opened chats and a loop through a chain: one agent message per chain, every step
of the scenario's path visited in order, a terminal reached."""

from __future__ import annotations

import pytest

from harness.conditions import build_condition
from harness.llm import ChatRequest
from harness.procedure import Role, turn_groups
from harness.templates import render
from tests.conftest import SHAPE_NAMES
from tests.harness.conditions.doubles import RecordingModel, converse, offline, shape


@pytest.mark.parametrize("condition", ["orchestrated", "langgraph"])
@pytest.mark.parametrize("name", SHAPE_NAMES)
def test_orchestrators_follow_the_path_one_message_per_chain(name: str, condition: str) -> None:
    proc, scenarios = shape(name)
    for scenario, transcript in zip(scenarios, converse(name, condition), strict=True):
        assert transcript.end_reason == "terminal", transcript
        assert transcript.terminal == scenario.path[-1]
        agent_steps = [n for n in scenario.path if proc.nodes[n].role is Role.AGENT
                       or proc.nodes[n].terminal]
        assert transcript.visited == agent_steps     # agent-side decisions routed as the path goes
        groups = turn_groups(proc, scenario.path)
        assert [t.speaker for t in transcript.turns] == [
            "agent" if proc.nodes[g[0]].role is Role.AGENT else "user" for g in groups]
        for turn, group in zip(transcript.turns, groups, strict=True):
            if len(group) > 1:   # one message carries out every step of the chain, in order
                at = [max(turn.text.find(render(x, scenario.context)) for x in proc.nodes[n].examples)
                      for n in group]
                assert -1 not in at and at == sorted(at), (turn.text, group)


@pytest.mark.parametrize("name", SHAPE_NAMES)
def test_in_context_runs_the_whole_path(name: str) -> None:
    proc, scenarios = shape(name)
    for scenario, transcript in zip(scenarios, converse(name, "in_context"), strict=True):
        assert transcript.end_reason == "user_ended", transcript
        assert len(transcript.turns) == len(turn_groups(proc, scenario.path))
    text = build_condition("in_context", proc, offline()).system
    assert ("the customer opens the chat" in text) == (name == "customer_opens")
    assert "(in the same message)" in text and "carry them all out in the same message" in text


def test_in_context_prompt_of_a_strictly_alternating_flowchart_is_unchanged() -> None:
    from tests.harness.conditions.doubles import procedure

    text = build_condition("in_context", procedure("travel"), offline()).system
    assert "same message" not in text and "opens the chat" not in text


def test_customer_opened_chat_starts_with_the_customers_message() -> None:
    proc, scenarios = shape("customer_opens")
    model = RecordingModel(lambda r: "Order shipped. Anything else?")
    transcripts = converse("customer_opens", "subterranean", model)
    assert all(t.turns[0].speaker == "user" for t in transcripts)
    first: ChatRequest = model.requests[0]
    # Exactly the training format: system prompt, then the customer's opening message.
    assert [m.role for m in first.messages] == ["system", "user"]
    assert first.messages[1].content == transcripts[0].turns[0].text
    for condition in ("orchestrated", "langgraph", "in_context"):
        recorder = RecordingModel(inner=offline())
        converse("customer_opens", condition, recorder)
        roles = [m.role for m in recorder.by_purpose("generation")[0].messages]
        assert roles == ["system", "user"], condition     # no stand-in opener before the customer


def test_agent_side_decision_is_routed_on_the_conversation_so_far() -> None:
    proc, scenarios = shape("agent_hub")
    recorder = RecordingModel(inner=offline())
    converse("agent_hub", "orchestrated", recorder)
    routes = recorder.by_purpose("routing")
    assert routes and all(r.hint.options.keys() == {"escalate", "wait"} for r in routes)
    assert all(r.messages[-1].role == "user" for r in routes)   # decided before the customer speaks again
    paths = {s.path[-1] for s in scenarios}
    assert paths == {"escalate", "resolve"}       # both branches exercised

