"""The simulated customer: plays its plan, never sees the flowchart, the same in every condition."""

from __future__ import annotations

import pytest

from harness.conditions import build_condition
from harness.llm import Usage
from harness.procedure import Role
from harness.runner import run_conversation
from harness.simulator import END_MARKER, SimulatorError, UserSimulator
from harness.templates import render
from harness.transcript import Turn
from tests.harness.conditions.doubles import (
    DOMAINS,
    RecordingModel,
    offline,
    play,
    procedure,
    run,
    scenarios,
    user_nodes,
)


@pytest.mark.parametrize("domain", DOMAINS)
def test_simulator_never_sees_the_flowchart(domain: str) -> None:
    proc = procedure(domain)
    user_model = RecordingModel(inner=offline())
    simulator = UserSimulator(user_model, proc)
    condition = build_condition("orchestrated", proc, offline())
    for scenario in scenarios(domain)[:4]:
        run(run_conversation(condition, simulator, scenario))
        assert user_model.requests
        agent_prompts = [
            render(n.prompt, scenario.context) for n in proc.nodes.values() if n.role is Role.AGENT
        ]
        raw_prompts = [n.prompt.strip() for n in proc.nodes.values() if n.role is Role.AGENT]
        for request in user_model.requests:
            assert request.purpose == "user"
            assert [m.role for m in request.messages] == ["system", "user"]
            text = "\n".join(m.content for m in request.messages)
            for prompt in agent_prompts + raw_prompts:
                assert prompt not in text
            # Node ids (snake_case, so they cannot occur by chance in prose; insurance names some
            # scenario facts like its nodes, and facts are the customer's) and edge conditions.
            for node_id in proc.nodes:
                if "_" in node_id and node_id not in scenario.variables:
                    assert node_id not in text, node_id
            for _, _, when in proc.edges():
                if when:
                    assert when not in text
        user_model.requests.clear()


@pytest.mark.parametrize("domain", DOMAINS)
def test_simulator_plays_the_user_nodes_of_its_path_in_order(domain: str) -> None:
    proc = procedure(domain)
    condition = build_condition("orchestrated", proc, offline())
    simulator = UserSimulator(offline(), proc)
    for scenario in scenarios(domain):
        session = simulator.session(scenario)
        assert [n for n, _ in session.plan] == user_nodes(proc, scenario.path)
        _, _, said = run(play(condition.session(scenario), session))
        assert [s.node for s in said] == user_nodes(proc, scenario.path)
        assert all(s.text and s.model == "offline" and s.usage.calls == 1 for s in said)
        # Ends on its own last step only when that step is the customer leaving.
        last = proc.nodes[said[-1].node]
        assert said[-1].ended == (last.terminal is not None)
        assert all(not s.ended for s in said[:-1])


def test_plan_is_in_the_system_prompt_rendered_with_the_facts() -> None:
    proc = procedure("travel")
    scenario = scenarios("travel")[0]
    session = UserSimulator(offline(), proc).session(scenario)
    for i, (node_id, _) in enumerate(session.plan, 1):
        assert f"{i}. {render(proc.nodes[node_id].prompt, scenario.context)}" in session.system
    for key, value in {**scenario.variables, **scenario.persona}.items():
        assert f"{key}: {value}" in session.system
    assert END_MARKER in session.system


def test_ends_after_its_plan_without_a_model_call() -> None:
    proc = procedure("zoom")
    scenario = scenarios("zoom")[0]
    model = RecordingModel(lambda _r: "should not be asked")
    session = UserSimulator(model, proc).session(scenario)
    turns = []
    for _ in session.plan:
        turns += [Turn(speaker="agent", text="a"), Turn(speaker="user", text="u")]
    turns.append(Turn(speaker="agent", text="anything else?"))
    said = run(session.reply(turns))
    assert said.ended and said.text == "" and said.node is None and said.usage == Usage()
    assert model.requests == []


@pytest.mark.parametrize(
    ("answer", "text"), [("Thanks, bye! [END]", "Thanks, bye!"), ("[END]", ""), ("  [END]  ", "")]
)
def test_ends_on_the_end_marker(answer: str, text: str) -> None:
    proc = procedure("zoom")
    scenario = scenarios("zoom")[0]
    model = RecordingModel(lambda _r: answer, name="anthropic:fake")
    said = run(
        UserSimulator(model, proc).session(scenario).reply([Turn(speaker="agent", text="Hello!")])
    )
    assert said.ended and said.text == text and said.model == "anthropic:fake"
    assert said.node == session_first_node(proc, scenario)


def session_first_node(proc, scenario) -> str:
    return next(n for n in scenario.path if proc.nodes[n].role is Role.USER)


@pytest.mark.parametrize("answer", ["", "   ", "\n"])
def test_an_empty_reply_is_a_simulator_error(answer: str) -> None:
    proc = procedure("zoom")
    scenario = scenarios("zoom")[0]
    model = RecordingModel(lambda _r: answer)
    with pytest.raises(SimulatorError, match="empty"):
        run(
            UserSimulator(model, proc)
            .session(scenario)
            .reply([Turn(speaker="agent", text="Hello!")])
        )


def test_an_empty_reply_is_asked_for_again_once_and_counted() -> None:
    proc = procedure("zoom")
    scenario = scenarios("zoom")[0]
    model = RecordingModel(lambda r: "" if r.trial == 0 else "My meeting has no audio.")
    said = run(UserSimulator(model, proc).session(scenario).reply([Turn(speaker="agent", text="Hello!")]))
    assert said.text == "My meeting has no audio." and said.empty_replies == 1
    assert [r.trial for r in model.requests] == [0, 1]
    assert model.requests[0].messages == model.requests[1].messages


def test_request_shows_the_conversation_from_the_customers_side() -> None:
    proc = procedure("zoom")
    scenario = scenarios("zoom")[0]
    model = RecordingModel(lambda _r: "My camera is frozen.")
    session = UserSimulator(model, proc).session(scenario)
    turns = [Turn(speaker="agent", text="Hello, how can I help?")]
    run(session.reply(turns))
    prompt = model.requests[0].messages[1].content
    assert "Agent: Hello, how can I help?" in prompt
    assert f"(1 of {len(session.plan)})" in prompt
    assert model.requests[0].hint.speaker == "user"


def test_scenario_i_is_the_same_customer_in_every_condition() -> None:
    proc = procedure("travel")
    systems: dict[str, dict[int, set[str]]] = {}
    first_messages: dict[str, list[str]] = {}
    for name in ("orchestrated", "langgraph", "in_context"):
        user_model = RecordingModel(inner=offline())
        condition = build_condition(name, proc, offline())
        simulator = UserSimulator(user_model, proc)
        systems[name] = {}
        first_messages[name] = []
        for scenario in scenarios("travel")[:4]:
            user_model.requests.clear()
            transcript = run(run_conversation(condition, simulator, scenario))
            systems[name][scenario.index] = {r.messages[0].content for r in user_model.requests}
            first_messages[name].append(
                next(t.text for t in transcript.turns if t.speaker == "user")
            )
    reference = systems["orchestrated"]
    assert all(len(s) == 1 for s in reference.values())
    assert len({next(iter(s)) for s in reference.values()}) == 4  # scenarios differ from each other
    assert systems["langgraph"] == reference and systems["in_context"] == reference
    # Same facts in, same first customer message out (it does not depend on the agent's words).
    assert (
        first_messages["langgraph"]
        == first_messages["orchestrated"]
        == first_messages["in_context"]
    )
