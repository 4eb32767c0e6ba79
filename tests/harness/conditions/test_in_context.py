"""The in-context condition: the whole flowchart in the system prompt, one call per turn."""

from __future__ import annotations

import pytest

from harness.conditions import build_condition
from harness.conditions.base import OPENER
from harness.conditions.in_context import InContextCondition, serialize_flowchart
from harness.llm import Usage, get_model
from harness.runner import run_conversation
from harness.simulator import UserSimulator
from harness.transcript import Turn
from tests.harness.conditions.doubles import (
    DOMAINS,
    RecordingModel,
    offline,
    procedure,
    run,
    scenarios,
)
from tests.harness.llm.fake_servers import FakeLLMServer


@pytest.mark.parametrize("domain", DOMAINS)
def test_system_prompt_holds_every_node_and_edge_condition(domain: str) -> None:
    proc = procedure(domain)
    text = serialize_flowchart(proc)
    condition = build_condition("in_context", proc, offline())
    assert isinstance(condition, InContextCondition)
    system = condition.system
    assert serialize_flowchart(proc) in system and proc.system_prompt in system
    assert f"First step: {proc.start}" in text
    lines = text.splitlines()
    for node_id, node in proc.nodes.items():
        header = next(i for i, line in enumerate(lines) if line.startswith(f"[{node_id}] "))
        who = "agent" if node.role.value == "agent" else "customer"
        assert f"({who}" in lines[header]
        if node.terminal:
            assert node.terminal.value in lines[header]
        assert node.prompt.strip() in text
        for edge in node.edges:
            arrow = f"  -> {edge.to}" + (f" if {edge.when}" if edge.when else "")
            assert arrow in lines[header:], (node_id, edge.to)
    for source, target, when in proc.edges():
        if when:
            assert f"-> {target} if {when}" in system, (source, target)


def test_one_request_per_agent_turn_same_system_prompt_and_no_routing() -> None:
    proc = procedure("travel")
    scenario = scenarios("travel")[3]
    model = RecordingModel(inner=offline())
    condition = build_condition("in_context", proc, model)
    transcript = run(run_conversation(condition, UserSimulator(offline(), proc), scenario))
    agent_turns = [t for t in transcript.turns if t.speaker == "agent"]
    assert len(model.requests) == len(agent_turns) == transcript.agent_usage.calls > 2
    assert all(r.purpose == "generation" for r in model.requests)
    assert {r.messages[0].content for r in model.requests} == {condition.system}
    assert transcript.routing_usage == Usage()
    assert transcript.terminal is None  # it claims no node
    first = model.requests[0]
    assert [m.content for m in first.messages[1:]] == [OPENER]
    last_agent = max(i for i, t in enumerate(transcript.turns) if t.speaker == "agent")
    assert [m.content for m in model.requests[-1].messages[2:]] == [
        t.text for t in transcript.turns[:last_agent]
    ]


def test_through_the_fake_openai_server_one_http_call_per_agent_turn() -> None:
    proc = procedure("zoom")
    scenario = scenarios("zoom")[0]

    async def conversation(server: FakeLLMServer):
        model = get_model(
            "openai:gpt-4.1", api_key=server.api_key, base_url=server.base_url, cache="off"
        )
        try:
            condition = build_condition("in_context", proc, model)
            transcript = await run_conversation(condition, UserSimulator(offline(), proc), scenario)
            return condition, transcript
        finally:
            await model.aclose()

    with FakeLLMServer("openai", reply=lambda body: "How can I help with Zoom?") as server:
        condition, transcript = run(conversation(server))
        requests = server.requests
    agent_turns = [t for t in transcript.turns if t.speaker == "agent"]
    assert len(requests) == len(agent_turns) == transcript.agent_usage.calls
    assert transcript.routing_usage == Usage()
    assert transcript.end_reason == "user_ended"
    for request in requests:
        system = request.body["messages"][0]
        assert system == {"role": "system", "content": condition.system}
        for node_id in proc.nodes:
            assert f"[{node_id}]" in system["content"]
    served_in, served_out, served = server.served_usage()
    assert (transcript.agent_usage.input_tokens, transcript.agent_usage.output_tokens) == (
        served_in,
        served_out,
    )
    assert served == len(requests)


def test_agent_after_the_shadow_reached_a_terminal_keeps_answering() -> None:
    """Past the end of the flowchart (the customer talks on) the condition still answers."""
    proc = procedure("zoom")
    scenario = scenarios("zoom")[0]
    model = RecordingModel(lambda r: f"hint:{r.hint.node}")
    session = build_condition("in_context", proc, model).session(scenario)
    turns: list[Turn] = []
    for text in ["audio is broken", "It works now, thanks!", "bye"]:
        reply = run(session.reply(turns))
        assert reply.terminal is None and reply.node is None and reply.routing == Usage()
        turns += [Turn(speaker="agent", text=reply.text), Turn(speaker="user", text=text)]
    reply = run(session.reply(turns))
    assert len(model.requests) == 4
    assert [r.hint.node for r in model.requests][0] == proc.start
