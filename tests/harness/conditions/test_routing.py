"""The orchestrators' edge classifier: request shape, answer parsing, fallback."""

from __future__ import annotations

import pytest

from harness.conditions.routing import ROUTER_SYSTEM, parse_route, route, route_request
from harness.llm import Usage
from harness.procedure import Edge
from harness.transcript import Turn
from tests.harness.conditions.doubles import RecordingModel, procedure, run

EDGES = [
    Edge(to="booked", when="the customer accepts"),
    Edge(to="offer", when="wants another offer"),
    Edge(to="goodbye", when="gives up"),
]


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("1", "booked"),
        ("2", "offer"),
        ("3", "goodbye"),
        (" 2\n", "offer"),
        ("2.", "offer"),
        ("Option 3", "goodbye"),
        ("The answer is 1.", "booked"),
        ("goodbye", "goodbye"),
        ("OFFER", "offer"),
        ("I think: booked", "booked"),
    ],
)
def test_parse_route_reads_numbers_and_ids(text: str, target: str) -> None:
    assert parse_route(text, EDGES) == target


@pytest.mark.parametrize("text", ["", "banana", "0", "4", "17", "none of them", "-"])
def test_parse_route_rejects_garbage_and_out_of_range_numbers(text: str) -> None:
    assert parse_route(text, EDGES) is None


def test_route_request_numbers_the_options_and_carries_the_conversation() -> None:
    proc = procedure("travel")
    edges = proc.nodes["present_options"].edges
    turns = [
        Turn(speaker="agent", text="Here are three options."),
        Turn(speaker="user", text="Option 2 please"),
    ]
    request = route_request(proc, edges, turns, seed=5)
    system = request.messages[0]
    assert system.role == "system" and system.content.startswith(
        ROUTER_SYSTEM.split("{options}")[0]
    )
    for i, edge in enumerate(edges, 1):
        assert f"{i}. {edge.to}: {edge.when}" in system.content
    # The answer is asked for as a choice among the edges' targets, for providers that constrain.
    assert request.output is not None and request.output.choices == tuple(e.to for e in edges)
    assert request.output.json_schema is None and request.max_tokens >= 16
    assert [m.role for m in request.messages[1:]] == ["user", "assistant", "user"]
    assert request.messages[-1].content == "Option 2 please"
    assert request.purpose == "routing" and request.seed == 5 and request.temperature == 0.0
    assert request.hint is not None and request.hint.task == "route"
    assert list(request.hint.options) == [e.to for e in edges]


def test_route_falls_back_to_the_first_edge_on_garbage_and_says_so() -> None:
    proc = procedure("travel")
    edges = proc.nodes["present_options"].edges
    turns = [Turn(speaker="agent", text="Options..."), Turn(speaker="user", text="hmm")]
    garbage = RecordingModel(
        lambda _r: "I cannot decide",
        usage={"routing": Usage(input_tokens=9, output_tokens=4, calls=1)},
    )
    decision = run(route(garbage, proc, edges, turns, seed=1))
    assert (decision.target, decision.parsed) == (edges[0].to, False)
    assert decision.usage == Usage(input_tokens=9, output_tokens=4, calls=1)
    second = RecordingModel(lambda _r: "2")
    decision = run(route(second, proc, edges, turns, seed=1))
    assert (decision.target, decision.parsed) == (edges[1].to, True)


def test_parse_route_prefers_the_longest_target_named() -> None:
    edges = [Edge(to="ask_dates", when="first time"), Edge(to="ask_dates_again", when="dates were wrong")]
    assert parse_route("go to ask_dates_again", edges) == "ask_dates_again"
    assert parse_route("ask_dates", edges) == "ask_dates"


def test_a_constrained_answer_is_counted_as_such() -> None:
    class Constraining(RecordingModel):
        async def generate(self, request):
            result = await super().generate(request)
            return result.model_copy(update={"constrained": True})

    proc = procedure("travel")
    edges = proc.nodes["present_options"].edges
    turns = [Turn(speaker="agent", text="Options..."), Turn(speaker="user", text="the second")]
    model = Constraining(lambda request: request.output.choices[1])
    decision = run(route(model, proc, edges, turns, seed=0))
    assert decision.target == edges[1].to and decision.parsed and decision.constrained
