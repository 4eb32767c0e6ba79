"""FlowchartTracker: one customer message moves past a user node and on to the agent's steps."""

from __future__ import annotations

import pytest

from harness.conditions.tracker import FlowchartTracker
from harness.procedure import Edge, load_procedure
from tests.conftest import PROCEDURE_DATA
from tests.harness.conditions.doubles import procedure, run


def mini():
    return load_procedure(PROCEDURE_DATA / "valid.yaml")


class Chooser:
    """Answers hubs from a script and records which hubs asked, with which edges."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, list[str], str]] = []

    async def __call__(self, hub: str, edges: list[Edge], text: str) -> str:
        self.calls.append((hub, [e.to for e in edges], text))
        return self.answers.pop(0)


def test_advance_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        run(FlowchartTracker(mini()).advance("hi", Chooser()))


def test_single_edges_need_no_choice_and_user_hubs_ask_the_chooser() -> None:
    tracker = FlowchartTracker(mini())
    assert run(tracker.start(Chooser())) == ["greet"]
    choose = Chooser("offer", "booked")
    assert run(tracker.advance("a trip to Rome", choose)) == ("request", ["offer"])
    assert choose.calls == []  # greet -> request -> offer: no hubs
    assert run(tracker.advance("something else", choose)) == ("decide", ["offer"])
    assert choose.calls == [("decide", ["booked", "offer", "goodbye"], "something else")]
    assert run(tracker.advance("yes", choose)) == ("decide", ["booked"])
    assert tracker.agent_node == "booked"
    with pytest.raises(RuntimeError, match="ended"):
        run(tracker.advance("thanks", choose))


def test_agent_hub_then_user_hub_both_ask() -> None:
    proc = procedure("travel")
    tracker = FlowchartTracker(proc)
    run(tracker.start(Chooser()))
    run(tracker.advance("Japan", Chooser("present_options")))
    assert tracker.agent_node == "present_options"
    choose = Chooser("reject_options")
    user, agent = run(tracker.advance("none of these", choose))
    assert (user, agent) == ("reject_options", ["ask_what_to_change"])
    # Only the agent hub asks: reject_options has one edge.
    assert [c[0] for c in choose.calls] == ["present_options"]


def test_customer_terminal_returns_no_next_agent_node() -> None:
    proc = procedure("travel")
    tracker = FlowchartTracker(proc)
    run(tracker.start(Chooser()))
    run(tracker.advance("Japan in May", Chooser("present_options")))
    assert proc.nodes["customer_leaves"].terminal is not None
    choose = Chooser("customer_leaves")
    assert run(tracker.advance("I'll think about it, bye", choose)) == ("customer_leaves", None)
    assert tracker.agent_node is None
    assert len(choose.calls) == 1  # nothing is asked past the customer's terminal
