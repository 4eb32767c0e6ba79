"""The subterranean condition: the compiled model sees the system prompt and the turns only."""

from __future__ import annotations

from harness.conditions import build_condition, model_role
from harness.conditions.base import OPENER
from harness.conditions.subterranean import SubterraneanCondition
from harness.llm import Message, Usage
from harness.templates import render
from harness.transcript import Turn
from tests.harness.conditions.doubles import DOMAINS, RecordingModel, procedure, run, scenarios


def test_request_is_system_prompt_then_turns_and_nothing_else() -> None:
    for domain in DOMAINS:
        proc = procedure(domain)
        scenario = scenarios(domain)[1]
        model = RecordingModel(
            lambda _r: "  Hello from the weights.  ",
            name="local:compiled",
            usage={"generation": Usage(input_tokens=30, output_tokens=6, calls=1)},
        )
        condition = build_condition("subterranean", proc, model)
        assert (
            isinstance(condition, SubterraneanCondition)
            and model_role("subterranean") == "compiled"
        )
        session = condition.session(scenario)
        first = run(session.reply([]))
        turns = [
            Turn(speaker="agent", text="Hi!", node="greet"),
            Turn(speaker="user", text="I need help"),
        ]
        second = run(session.reply(turns))

        assert model.requests[0].messages == (Message(role="system", content=proc.system_prompt),)
        assert model.requests[1].messages == (
            Message(role="system", content=proc.system_prompt),
            Message(role="assistant", content="Hi!"),
            Message(role="user", content="I need help"),
        )
        for request in model.requests:
            assert request.hint is None and request.purpose == "generation"
            contents = " ".join(m.content for m in request.messages)
            assert OPENER not in contents
            for node_id, node in proc.nodes.items():
                assert render(node.prompt, scenario.context) not in contents
                assert f"[{node_id}]" not in contents
        assert first.text == second.text == "Hello from the weights."
        assert first.node is None and first.terminal is None and first.routing == Usage()
        assert first.generation == Usage(input_tokens=30, output_tokens=6, calls=1)
        assert first.model == "local:compiled"
        assert model.requests[0].seed != model.requests[1].seed


def test_seed_depends_on_scenario_and_position_only() -> None:
    proc = procedure("travel")
    a, b = scenarios("travel")[0], scenarios("travel")[1]
    model = RecordingModel(lambda _r: "x")
    condition = build_condition("subterranean", proc, model)
    run(condition.session(a).reply([]))
    run(condition.session(a).reply([]))
    run(condition.session(b).reply([]))
    seeds = [r.seed for r in model.requests]
    assert seeds[0] == seeds[1] != seeds[2]
