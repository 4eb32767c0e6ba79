"""Conversations between a condition and the simulated user: end reasons, usage, determinism."""

from __future__ import annotations

import asyncio
import time

import pytest

from harness.conditions import build_condition
from harness.llm import (
    ChatModel,
    ChatRequest,
    ChatResult,
    LLMCallError,
    ProviderResponseError,
    Usage,
    get_model,
)
from harness.llm.errors import CacheMissError
from harness.runner import run_conversation, run_conversations
from harness.simulator import UserSimulator
from harness.transcript import Transcript
from tests.harness.conditions.doubles import (
    RaisingModel,
    RecordingModel,
    agent_nodes,
    offline,
    procedure,
    run,
    scenarios,
)


def converse(
    condition_name: str,
    domain: str,
    index: int,
    *,
    agent: ChatModel | None = None,
    user: ChatModel | None = None,
    max_turns: int = 60,
) -> Transcript:
    proc = procedure(domain)
    condition = build_condition(condition_name, proc, agent or offline())
    return run(
        run_conversation(
            condition,
            UserSimulator(user or offline(), proc),
            scenarios(domain)[index],
            max_turns=max_turns,
        )
    )


def test_terminal_when_the_orchestrator_reaches_an_agent_terminal() -> None:
    proc = procedure("travel")
    scenario = next(s for s in scenarios("travel") if proc.nodes[s.path[-1]].role.value == "agent")
    transcript = converse("orchestrated", "travel", scenario.index)
    assert transcript.end_reason == "terminal" and transcript.terminal == scenario.path[-1]
    assert proc.nodes[transcript.terminal].terminal is not None
    assert [t.speaker for t in transcript.turns][-1] == "agent"
    assert len(transcript.turns) == len(scenario.path) and transcript.error is None


def test_user_ended_when_the_customer_leaves() -> None:
    proc = procedure("travel")
    scenario = next(s for s in scenarios("travel") if proc.nodes[s.path[-1]].role.value == "user")
    transcript = converse("orchestrated", "travel", scenario.index)
    assert transcript.end_reason == "user_ended" and transcript.terminal is None
    assert transcript.turns[-1].speaker == "user"
    assert len(transcript.turns) == len(scenario.path)


def test_user_ended_after_its_plan_in_context() -> None:
    """in_context claims no terminal: the customer ends once its plan is spent."""
    proc = procedure("zoom")
    scenario = next(s for s in scenarios("zoom") if proc.nodes[s.path[-1]].role.value == "agent")
    transcript = converse("in_context", "zoom", scenario.index)
    assert transcript.end_reason == "user_ended" and transcript.terminal is None
    assert transcript.turns[-1].speaker == "agent"
    assert len(transcript.turns) == len(scenario.path)


@pytest.mark.parametrize("max_turns", [1, 2, 3, 4])
def test_turn_cap(max_turns: int) -> None:
    scenario = max(scenarios("insurance"), key=lambda s: len(s.path))
    transcript = converse("orchestrated", "insurance", scenario.index, max_turns=max_turns)
    assert transcript.end_reason == "turn_cap" and transcript.terminal is None
    assert len(transcript.turns) == max_turns
    assert [t.speaker for t in transcript.turns] == ["agent", "user", "agent", "user"][:max_turns]
    assert transcript.agent_usage.calls == (max_turns + 1) // 2
    assert transcript.user_usage.calls == max_turns // 2


@pytest.mark.parametrize(
    "error",
    [
        LLMCallError("openai:gpt-4.1", 3, TimeoutError("slow"), retryable=True),
        ProviderResponseError("no text content"),
        CacheMissError("anthropic:x", "summary", "0123456789abcdef"),
    ],
)
def test_agent_error_when_the_model_raises_an_llm_error(error: Exception) -> None:
    agent = RaisingModel(error, after=2)  # the third agent turn fails
    transcript = converse("orchestrated", "travel", 0, agent=agent)
    assert transcript.end_reason == "agent_error" and transcript.error == str(error)
    assert [t.speaker for t in transcript.turns] == ["agent", "user", "agent", "user"]
    assert transcript.agent_usage.calls == 2
    assert transcript.cut_by_failed_call and "cut_by_failed_call" not in transcript.model_dump_json()


def test_agent_error_in_routing_too() -> None:
    agent = RaisingModel(ProviderResponseError("bad routing reply"), purposes=("routing",))
    transcript = converse("langgraph", "travel", 0, agent=agent)
    assert transcript.end_reason == "agent_error" and "bad routing reply" in transcript.error
    assert [t.speaker for t in transcript.turns] == ["agent", "user"]


def test_a_non_llm_error_is_not_swallowed() -> None:
    with pytest.raises(ZeroDivisionError):
        converse("orchestrated", "travel", 0, agent=RaisingModel(ZeroDivisionError("bug")))


@pytest.mark.parametrize(
    ("user", "message"),
    [
        (RecordingModel(lambda _r: "  "), "empty message"),
        (
            RaisingModel(
                LLMCallError("anthropic:x", 1, RuntimeError("401"), retryable=False),
                purposes=("user",),
            ),
            "not retryable",
        ),
    ],
)
def test_simulator_error(user: ChatModel, message: str) -> None:
    transcript = converse("orchestrated", "travel", 0, user=user)
    assert transcript.end_reason == "simulator_error" and message in transcript.error
    assert [t.speaker for t in transcript.turns] == ["agent"]
    assert transcript.user_usage == Usage()
    assert transcript.incidents.empty_user_replies == (2 if "empty" in message else 0)
    # a customer who said nothing is what the conversation was; a failed call cut it short
    assert transcript.cut_by_failed_call == ("empty" not in message)


def test_a_talking_models_slips_are_counted_on_the_transcript() -> None:
    """Empty agent turns and router replies that name no option are kept and counted."""
    def agent(request: ChatRequest) -> str:
        return "Hmm, hard to say." if request.purpose == "routing" else ""

    transcript = converse("orchestrated", "travel", 0, agent=RecordingModel(agent), max_turns=6)
    agent_turns = [t for t in transcript.turns if t.speaker == "agent"]
    assert transcript.incidents.empty_agent_replies == len(agent_turns) > 0
    assert all(t.text == "" for t in agent_turns)
    assert transcript.incidents.unparsed_routes == transcript.routing_usage.calls > 0


def test_end_marker_only_ends_without_an_empty_turn() -> None:
    transcript = converse("orchestrated", "travel", 0, user=RecordingModel(lambda _r: "[END]"))
    assert transcript.end_reason == "user_ended"
    assert [t.speaker for t in transcript.turns] == ["agent"]
    assert transcript.user_usage.calls == 1


@pytest.mark.parametrize("condition", ["orchestrated", "langgraph", "in_context"])
def test_transcripts_are_deterministic(condition: str) -> None:
    def dumps() -> list[dict]:
        proc = procedure("travel")
        cond = build_condition(condition, proc, get_model("offline"))
        transcripts = run(
            run_conversations(cond, UserSimulator(get_model("offline"), proc), scenarios("travel"))
        )
        return [{**t.model_dump(), "wall_clock_s": None} for t in transcripts]

    first, second = dumps(), dumps()
    assert first == second
    assert len({str(d["turns"]) for d in first}) == len(first)  # not one conversation repeated


class Priced(ChatModel):
    """Fixed usage per purpose, so the runner's sums can be checked exactly."""

    USAGE = {
        "generation": Usage(input_tokens=100, output_tokens=10, calls=1),
        "routing": Usage(input_tokens=50, output_tokens=1, calls=1),
        "user": Usage(input_tokens=70, output_tokens=7, calls=1),
    }

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: dict[str, int] = {}

    async def generate(self, request: ChatRequest) -> ChatResult:
        result = await offline().generate(request)
        self.calls[request.purpose] = self.calls.get(request.purpose, 0) + 1
        return ChatResult(text=result.text, usage=self.USAGE[request.purpose], model=self.name)


@pytest.mark.parametrize("condition", ["orchestrated", "langgraph", "in_context"])
def test_usage_is_summed_per_role(condition: str) -> None:
    agent, user = Priced("agent-model"), Priced("user-model")
    transcript = converse(condition, "insurance", 0, agent=agent, user=user)
    generation, routing, said = (
        agent.calls.get("generation", 0),
        agent.calls.get("routing", 0),
        user.calls.get("user", 0),
    )
    assert generation == sum(t.speaker == "agent" for t in transcript.turns)
    assert said == sum(t.speaker == "user" for t in transcript.turns)
    if condition == "in_context":
        assert routing == 0
    else:
        assert routing > 0
    assert transcript.agent_usage == Usage(
        input_tokens=100 * generation, output_tokens=10 * generation, calls=generation
    )
    assert transcript.routing_usage == Usage(
        input_tokens=50 * routing, output_tokens=routing, calls=routing
    )
    assert transcript.user_usage == Usage(
        input_tokens=70 * said, output_tokens=7 * said, calls=said
    )
    assert (transcript.agent_model, transcript.user_model) == ("agent-model", "user-model")


def test_offline_usage_matches_the_model_ledgers() -> None:
    proc = procedure("zoom")
    agent, user = get_model("offline"), get_model("offline")
    transcripts = run(
        run_conversations(
            build_condition("orchestrated", proc, agent),
            UserSimulator(user, proc),
            scenarios("zoom"),
        )
    )
    ledger = agent.ledger.by_purpose
    assert sum((t.agent_usage for t in transcripts), Usage()) == ledger["generation"]
    assert sum((t.routing_usage for t in transcripts), Usage()) == ledger["routing"]
    assert sum((t.user_usage for t in transcripts), Usage()) == user.ledger.by_purpose["user"]
    assert "user" not in ledger and set(user.ledger.by_purpose) == {"user"}


class Slow(ChatModel):
    """Delegates to offline after a delay that depends on the conversation; tracks concurrency."""

    def __init__(self) -> None:
        self.name = "slow"
        self.in_flight = self.peak = 0

    async def generate(self, request: ChatRequest) -> ChatResult:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(0.002 * (request.seed or 0) % 0.02)
            return await offline().generate(request)
        finally:
            self.in_flight -= 1


def test_many_conversations_run_concurrently_with_results_in_scenario_order() -> None:
    proc = procedure("travel")
    items = scenarios("travel", 16, 3)
    agent = Slow()
    done: list[int] = []
    started = time.perf_counter()
    transcripts = run(
        run_conversations(
            build_condition("orchestrated", proc, agent),
            UserSimulator(offline(), proc),
            items,
            concurrency=5,
            on_done=lambda t: done.append(t.scenario_index),
        )
    )
    assert time.perf_counter() - started < 60
    assert [t.scenario_index for t in transcripts] == list(range(16))
    assert sorted(done) == list(range(16))
    assert 1 < agent.peak <= 5
    assert all(t.end_reason in {"terminal", "user_ended"} for t in transcripts)
    # Concurrency does not change what is said: the same as one at a time.
    serial = run(
        run_conversations(
            build_condition("orchestrated", proc, offline()),
            UserSimulator(offline(), proc),
            items,
            concurrency=1,
        )
    )
    assert [t.turns for t in serial] == [t.turns for t in transcripts]


def test_orchestrated_transcripts_follow_the_path() -> None:
    proc = procedure("zoom")
    for scenario in scenarios("zoom"):
        transcript = converse("orchestrated", "zoom", scenario.index)
        assert sum(t.speaker == "agent" for t in transcript.turns) == len(
            agent_nodes(proc, scenario.path)
        )


@pytest.mark.slow
def test_subterranean_on_the_local_base_model() -> None:
    proc = procedure("travel")
    # One decoding thread: on a small shared CPU box torch's default oversubscribes (30x slower).
    model = get_model("local:smollm2-135m", threads=1)

    async def go() -> list[Transcript]:
        try:
            return await run_conversations(
                build_condition("subterranean", proc, model),
                UserSimulator(offline(), proc),
                scenarios("travel")[:2],
                max_turns=4,
            )
        finally:
            await model.aclose()

    started = time.perf_counter()
    transcripts = run(go())
    assert time.perf_counter() - started < 90
    assert [t.scenario_index for t in transcripts] == [0, 1]
    for transcript in transcripts:
        assert isinstance(transcript, Transcript) and transcript.condition == "subterranean"
        assert transcript.end_reason in {"turn_cap", "user_ended"}
        agent_turns = [t for t in transcript.turns if t.speaker == "agent"]
        assert agent_turns and all(t.text.strip() for t in agent_turns)
        assert transcript.agent_model.startswith("local:")
        assert (
            transcript.agent_usage.calls == len(agent_turns) and transcript.routing_usage == Usage()
        )


@pytest.mark.parametrize("condition_name", ["langgraph", "in_context", "orchestrated"])
def test_offline_trials_of_one_scenario_differ_and_trial_0_is_the_run_without_trials(condition_name) -> None:
    proc = procedure("travel")
    scenario = scenarios("travel")[0]
    agent = RecordingModel()
    user = RecordingModel(name="user")
    condition = build_condition(condition_name, proc, agent)
    simulator = UserSimulator(user, proc)

    def words(s):
        return [t.text for t in run(run_conversation(condition, simulator, s)).turns]

    plain = words(scenario)
    requests_before = len(agent.requests)
    trials = [words(scenario.of_trial(t, 0.7)) for t in range(3)]
    asked = agent.requests[requests_before:]
    assert trials[0] != trials[1] != trials[2] and plain != trials[1]
    assert words(scenario.of_trial(0)) == plain            # trial 0 at greedy: the run without trials
    assert {r.trial for r in asked} == {0, 1, 2} and {r.trial for r in user.requests} >= {0, 2, 4}
    generation = [r for r in asked if r.purpose == "generation"]
    assert {r.temperature for r in generation} == {0.7}
    assert len({(r.seed, r.trial) for r in asked}) > len({r.seed for r in agent.requests[:requests_before]})
    transcript = run(run_conversation(condition, simulator, scenario.of_trial(2)))
    assert transcript.trial == 2 and '"trial":2' in transcript.model_dump_json()
    assert '"trial"' not in run(run_conversation(condition, simulator, scenario)).model_dump_json()
