"""The orchestrated condition: node prompts injected, hubs routed by the same model."""

from __future__ import annotations

import pytest

from harness.conditions import build_condition
from harness.conditions.base import OPENER
from harness.conditions.orchestrated import OrchestratedCondition
from harness.llm import Usage
from harness.simulator import UserSimulator
from harness.templates import render
from harness.transcript import Turn
from tests.harness.conditions.doubles import (
    DOMAINS,
    RecordingModel,
    agent_nodes,
    offline,
    play,
    procedure,
    run,
    scenarios,
    user_nodes,
)


@pytest.mark.parametrize("domain", DOMAINS)
def test_offline_orchestrator_follows_each_scenarios_path(domain: str) -> None:
    proc = procedure(domain)
    condition = build_condition("orchestrated", proc, offline())
    assert isinstance(condition, OrchestratedCondition)
    simulator = UserSimulator(offline(), proc)
    for scenario in scenarios(domain):
        session = condition.session(scenario)
        turns, replies, said = run(play(session, simulator.session(scenario)))
        assert [r.node for r in replies] == agent_nodes(proc, scenario.path), scenario.index
        assert [s.node for s in said] == user_nodes(proc, scenario.path), scenario.index
        last = proc.nodes[scenario.path[-1]]
        if last.role.value == "agent":
            assert replies[-1].terminal == scenario.path[-1]
        assert all(r.text and r.model == "offline" for r in replies)
        assert all(r.unparsed_routes == 0 for r in replies)
        assert len(turns) == len(scenario.path)


def test_each_turn_injects_the_rendered_node_prompt_and_routes_at_hubs() -> None:
    proc = procedure("travel")
    scenario = scenarios("travel")[0]
    model = RecordingModel(inner=offline())
    session = build_condition("orchestrated", proc, model).session(scenario)
    first = run(session.reply([]))
    assert first.node == proc.start and first.routing == Usage()
    assert first.generation.calls == 1 and first.generation.input_tokens > 0
    (request,) = model.requests
    system = request.messages[0].content
    assert proc.system_prompt in system
    assert render(proc.nodes[proc.start].prompt, scenario.context) in system
    assert [m.content for m in request.messages[1:]] == [OPENER]
    assert request.purpose == "generation" and request.hint.node == proc.start

    # greet -> share_preferences (single edge) -> user hub share_preferences: one routing call.
    turns = [
        Turn(speaker="agent", text=first.text),
        Turn(
            speaker="user", text="Japan in May, 7 days, a couple, about $2000 each, food and wine"
        ),
    ]
    second = run(session.reply(turns))
    purposes = [r.purpose for r in model.requests[1:]]
    assert purposes == ["routing", "generation"]
    assert second.routing.calls == 1 and second.generation.calls == 1
    assert second.node == "present_options"
    system = model.requests[-1].messages[0].content
    assert render(proc.nodes["present_options"].prompt, scenario.context) in system
    assert [m.content for m in model.requests[-1].messages[1:]] == [
        OPENER,
        turns[0].text,
        turns[1].text,
    ]


def test_unparsable_router_answers_are_counted_and_take_the_first_edge() -> None:
    proc = procedure("travel")
    scenario = scenarios("travel")[0]

    def answer(request):
        return "I am not sure, maybe?" if request.purpose == "routing" else "Agent words."

    model = RecordingModel(answer)
    session = build_condition("orchestrated", proc, model).session(scenario)
    run(session.reply([]))
    turns = [Turn(speaker="agent", text="Hi"), Turn(speaker="user", text="Japan, May, $2000")]
    reply = run(session.reply(turns))
    first_edge = proc.nodes["share_preferences"].edges[0].to
    assert reply.node == first_edge == "ask_details"
    assert reply.unparsed_routes == 1
    turns += [Turn(speaker="agent", text=reply.text), Turn(speaker="user", text="May")]
    assert run(session.reply(turns)).unparsed_routes == 1
    assert len(model.by_purpose("routing")) == 2


def test_customer_terminal_ends_with_no_agent_words_and_no_generation() -> None:
    proc = procedure("travel")
    scenario = scenarios("travel")[0]
    answers = iter(["present_options", "customer_leaves"])

    def answer(request):
        return next(answers) if request.purpose == "routing" else "Agent words."

    model = RecordingModel(answer)
    session = build_condition("orchestrated", proc, model).session(scenario)
    run(session.reply([]))
    turns = [Turn(speaker="agent", text="Hi"), Turn(speaker="user", text="all details")]
    assert run(session.reply(turns)).node == "present_options"
    turns += [Turn(speaker="agent", text="Options"), Turn(speaker="user", text="I'll pass, bye")]
    calls = len(model.requests)
    reply = run(session.reply(turns))
    assert (reply.text, reply.node, reply.terminal) == ("", "customer_leaves", "customer_leaves")
    assert reply.generation == Usage() and reply.routing.calls == 1
    assert [r.purpose for r in model.requests[calls:]] == ["routing"]
