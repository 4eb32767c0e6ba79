"""The LangGraph condition: a real compiled StateGraph, run against the official SDKs."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.graph import END, START
from langgraph.graph.state import CompiledStateGraph

from harness.conditions import build_condition
from harness.conditions.langgraph_flow import SPEAK, LangGraphCondition, build_graph
from harness.conditions.routing import ROUTE_MAX_TOKENS, ROUTER_SYSTEM
from harness.llm import Usage, get_model
from harness.procedure import Role
from harness.runner import run_conversation
from harness.simulator import UserSimulator
from harness.templates import render
from harness.transcript import Turn
from tests.harness.conditions.doubles import (
    DOMAINS,
    agent_nodes,
    offline,
    play,
    procedure,
    run,
    scenarios,
)
from tests.harness.llm.fake_servers import FakeLLMServer

SPECS = {"anthropic": "anthropic:claude-haiku-4-5", "openai": "openai:gpt-4.1"}
ROUTER_MARK = ROUTER_SYSTEM.split("\n")[0][:60]


def edges_of(graph: Any) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(conditional, plain) edges of the drawable graph."""
    edges = graph.get_graph().edges
    return (
        {(e.source, e.target) for e in edges if e.conditional},
        {(e.source, e.target) for e in edges if not e.conditional},
    )


@pytest.mark.parametrize("domain", DOMAINS)
def test_graph_mirrors_the_flowchart(domain: str) -> None:
    proc = procedure(domain)
    graph = build_graph(proc)
    assert isinstance(graph, CompiledStateGraph)
    drawn = graph.get_graph()
    assert set(drawn.nodes) == set(proc.nodes) | {START, END, SPEAK}
    conditional, plain = edges_of(graph)
    sources = {s for s, _ in conditional}

    # START: the start node, or any step that can follow an agent's turn.
    entries = {proc.start} | {
        e.to for n in proc.nodes.values() if n.role is Role.AGENT for e in n.edges
    }
    assert {t for s, t in conditional if s == START} == entries
    assert all(s != START for s, _ in plain)

    user_hubs = {nid for nid, n in proc.nodes.items() if n.role is Role.USER and len(n.edges) > 1}
    assert user_hubs, "every shipped domain has a customer hub"
    assert sources == user_hubs | {START}
    for hub in user_hubs:
        assert {t for s, t in conditional if s == hub} == set(proc.successors(hub))

    expected_plain = set()
    for nid, node in proc.nodes.items():
        if node.role is Role.AGENT:       # the shipped domains have no chains: each step speaks
            expected_plain.add((nid, SPEAK))
        elif node.terminal:
            expected_plain.add((nid, END))
        elif len(node.edges) == 1:
            expected_plain.add((nid, node.edges[0].to))
    assert plain == expected_plain | {(SPEAK, END)}


def test_condition_shares_one_compiled_graph() -> None:
    proc = procedure("zoom")
    condition = build_condition("langgraph", proc, offline())
    assert isinstance(condition, LangGraphCondition)
    assert isinstance(condition.graph, CompiledStateGraph)
    first, second = condition.session(scenarios("zoom")[0]), condition.session(scenarios("zoom")[1])
    assert first.graph is second.graph is condition.graph


@pytest.mark.parametrize("domain", DOMAINS)
def test_offline_langgraph_follows_each_scenarios_path(domain: str) -> None:
    proc = procedure(domain)
    condition = build_condition("langgraph", proc, offline())
    simulator = UserSimulator(offline(), proc)
    for scenario in scenarios(domain)[:5]:
        _, replies, _ = run(play(condition.session(scenario), simulator.session(scenario)))
        assert [r.node for r in replies] == agent_nodes(proc, scenario.path), scenario.index


def system_of(api: str, body: dict) -> str:
    if api == "anthropic":
        system = body.get("system", "")
        return system if isinstance(system, str) else " ".join(b["text"] for b in system)
    assert body["messages"][0]["role"] == "system"
    return body["messages"][0]["content"]


def last_text(api: str, body: dict) -> str:
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else " ".join(b["text"] for b in content)


class Script:
    """The fake server's replies: routing prompts get the next scripted number."""

    def __init__(self, *routes: str) -> None:
        self.routes = list(routes)

    def __call__(self, body: dict) -> str:
        system = body.get("system") or body["messages"][0]["content"]
        if ROUTER_MARK in str(system):
            return self.routes.pop(0)
        return f"Agent turn {len(body['messages'])}."


def usage_of(entries) -> Usage:
    return sum(
        (
            Usage(
                input_tokens=e.usage["input_tokens"],
                output_tokens=e.usage["output_tokens"],
                calls=1,
            )
            for e in entries
        ),
        Usage(),
    )


@pytest.mark.parametrize("api", sorted(SPECS))
def test_turns_through_the_official_sdk_generate_and_route_apart(api: str) -> None:
    proc = procedure("zoom")
    scenario = scenarios("zoom")[0]
    # greet (agent hub) -> 1: audio_issue -> audio_fix; report_result (customer hub) -> 2: retry_fix;
    # report_result -> 1: resolved (terminal).
    assert [e.to for e in proc.nodes["greet"].edges][0] == "audio_issue"
    assert [e.to for e in proc.nodes["report_result"].edges][:2] == ["resolved", "retry_fix"]
    script = Script("1", "2", "1")

    async def conversation(server: FakeLLMServer) -> list:
        model = get_model(SPECS[api], api_key=server.api_key, base_url=server.base_url, cache="off")
        try:
            session = build_condition("langgraph", proc, model).session(scenario)
            turns: list[Turn] = []
            replies, seen = [], []
            for user_text in ["My audio is broken", "Still broken", "It works now!"]:
                reply = await session.reply(turns)
                replies.append(reply)
                seen.append(len(server.requests))
                turns += [
                    Turn(speaker="agent", text=reply.text),
                    Turn(speaker="user", text=user_text),
                ]
            replies.append(await session.reply(turns))
            seen.append(len(server.requests))
            return replies, seen
        finally:
            await model.aclose()

    with FakeLLMServer(api, reply=script) as server:
        replies, seen = run(conversation(server))
        requests = server.requests

    assert [r.node for r in replies] == ["greet", "audio_fix", "retry_fix", "resolved"]
    assert [r.terminal for r in replies] == [None, None, None, "resolved"]
    assert seen == [1, 3, 5, 7]  # 1 generation, then routing + generation each turn
    assert all(r.status == 200 for r in requests)
    model_id = SPECS[api].split(":", 1)[1]
    assert all(r.body["model"] == model_id for r in requests)
    routing = [r for r in requests if ROUTER_MARK in system_of(api, r.body)]
    generation = [r for r in requests if r not in routing]
    assert [r.index for r in routing] == [1, 3, 5]

    for request, node in zip(
        generation, ["greet", "audio_fix", "retry_fix", "resolved"], strict=True
    ):
        system = system_of(api, request.body)
        assert proc.system_prompt in system
        assert render(proc.nodes[node].prompt, scenario.context) in system
    for request, hub, customer in zip(
        routing,
        ["greet", "report_result", "report_result"],
        ["My audio is broken", "Still broken", "It works now!"],
        strict=True,
    ):
        system = system_of(api, request.body)
        for i, edge in enumerate(proc.nodes[hub].edges, 1):
            assert f"{i}. {edge.to}: {edge.when}" in system
        assert last_text(api, request.body) == customer
        assert request.body["max_tokens" if api == "anthropic" else "max_completion_tokens"] == ROUTE_MAX_TOKENS
        # The answer is asked for as a choice among the hub's targets, in the vendor's own field.
        schema = (request.body["output_config"]["format"]["schema"] if api == "anthropic"
                  else request.body["response_format"]["json_schema"]["schema"])
        assert schema["properties"]["choice"]["enum"] == [e.to for e in proc.nodes[hub].edges]
    assert all("output_config" not in g.body and "response_format" not in g.body for g in generation)

    assert [r.text for r in replies] == [
        f"Agent turn {len(g.body['messages'])}." for g in generation
    ]
    assert all(r.model == model_id for r in replies)
    # Routing usage is counted apart from generation usage, each equal to what the server served.
    per_turn = [(0, 1), (1, 3), (3, 5), (5, 7)]
    for reply, (lo, hi) in zip(replies, per_turn, strict=True):
        turn_requests = requests[lo:hi]
        assert reply.generation == usage_of([r for r in turn_requests if r in generation])
        assert reply.routing == usage_of([r for r in turn_requests if r in routing])
    assert replies[0].routing == Usage()
    assert all(r.routing.calls == 1 and r.generation.calls == 1 for r in replies[1:])


def test_runner_on_fake_openai_counts_routing_and_generation_per_request() -> None:
    proc = procedure("zoom")
    scenario = scenarios("zoom")[0]

    def reply(body: dict) -> str:
        system = body["messages"][0]["content"]
        return "1" if ROUTER_MARK in system else "Let me help you with that."

    async def conversation(server: FakeLLMServer):
        model = get_model(
            "openai:gpt-4.1", api_key=server.api_key, base_url=server.base_url, cache="off"
        )
        try:
            return await run_conversation(
                build_condition("langgraph", proc, model), UserSimulator(offline(), proc), scenario
            )
        finally:
            await model.aclose()

    with FakeLLMServer("openai", reply=reply) as server:
        transcript = run(conversation(server))
        requests = server.requests
    routing = [r for r in requests if ROUTER_MARK in r.body["messages"][0]["content"]]
    generation = [r for r in requests if r not in routing]
    agent_turns = [t for t in transcript.turns if t.speaker == "agent"]
    assert len(generation) == len(agent_turns) == transcript.agent_usage.calls
    assert len(routing) == transcript.routing_usage.calls > 0
    assert transcript.agent_usage == usage_of(generation)
    assert transcript.routing_usage == usage_of(routing)
    assert transcript.agent_model == "gpt-4.1" and transcript.user_model == "offline"
    assert all(t.text == "Let me help you with that." for t in agent_turns)
