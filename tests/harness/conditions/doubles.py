"""Test doubles and helpers shared by the condition, simulator and runner tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import cache

from harness.conditions import ConditionSession, build_condition
from harness.llm import ChatModel, ChatRequest, ChatResult, Usage, get_model
from harness.procedure import Procedure, Role, load_procedure
from harness.runner import run_conversations
from harness.scenarios import Scenario, load_scenario_set, sample_scenarios
from harness.simulator import SimulatorSession, UserReply, UserSimulator
from harness.transcript import Turn
from tests.conftest import ROOT, shape_files
from tests.conftest import shipped_procedure as procedure

DOMAINS = ("travel", "zoom", "insurance")


@cache
def scenarios(domain: str, n: int = 8, seed: int = 0) -> tuple[Scenario, ...]:
    scenario_set = load_scenario_set(ROOT / "scenarios" / f"{domain}.yaml")
    return tuple(sample_scenarios(scenario_set, procedure(domain), n, seed))


@cache
def offline() -> ChatModel:
    return get_model("offline")


def agent_nodes(proc: Procedure, path: tuple[str, ...]) -> list[str]:
    return [n for n in path if proc.nodes[n].role is Role.AGENT]


def user_nodes(proc: Procedure, path: tuple[str, ...]) -> list[str]:
    return [n for n in path if proc.nodes[n].role is Role.USER]


class RecordingModel(ChatModel):
    """Records every request; answers with `answer(request)` (default: delegate to offline)."""

    def __init__(
        self,
        answer: Callable[[ChatRequest], str] | None = None,
        *,
        inner: ChatModel | None = None,
        name: str = "recording",
        usage: dict[str, Usage] | None = None,
    ) -> None:
        self.name = name
        self.answer = answer
        self.inner = inner
        self.usage = usage or {}
        self.requests: list[ChatRequest] = []

    async def generate(self, request: ChatRequest) -> ChatResult:
        self.requests.append(request)
        if self.answer is None:
            return await (self.inner or offline()).generate(request)
        text = self.answer(request)
        usage = self.usage.get(request.purpose, Usage(input_tokens=10, output_tokens=2, calls=1))
        return ChatResult(text=text, usage=usage, model=self.name)

    def by_purpose(self, purpose: str) -> list[ChatRequest]:
        return [r for r in self.requests if r.purpose == purpose]


class RaisingModel(ChatModel):
    """Raises `error` for requests of `purposes`; delegates the rest to the offline model."""

    def __init__(
        self, error: Exception, purposes: tuple[str, ...] = ("generation",), after: int = 0
    ) -> None:
        self.name = "raising"
        self.error, self.purposes, self.after = error, purposes, after
        self.seen = 0

    async def generate(self, request: ChatRequest) -> ChatResult:
        if request.purpose in self.purposes:
            self.seen += 1
            if self.seen > self.after:
                raise self.error
        return await offline().generate(request)


async def play(
    agent: ConditionSession,
    user: SimulatorSession,
    max_turns: int = 60,
) -> tuple[list[Turn], list, list[UserReply]]:
    """A bare conversation loop (like the runner's) that keeps every AgentReply/UserReply."""
    turns: list[Turn] = []
    replies, said_all = [], []
    while len(turns) < max_turns:
        reply = await agent.reply(turns)
        replies.append(reply)
        if reply.text or not reply.terminal:
            turns.append(Turn(speaker="agent", text=reply.text))
        if reply.terminal:
            break
        said = await user.reply(turns)
        said_all.append(said)
        if said.text:
            turns.append(Turn(speaker="user", text=said.text))
        if said.ended:
            break
    return turns, replies, said_all


@cache
def shape(name: str) -> tuple[Procedure, tuple[Scenario, ...]]:
    """A shape fixture (tests/conftest.py) and six of its scenarios."""
    procedure_file, scenario_file = shape_files(name)
    proc = load_procedure(procedure_file)
    return proc, tuple(sample_scenarios(load_scenario_set(scenario_file), proc, 6, seed=1))


def converse(name: str, condition: str, model: ChatModel | None = None) -> list:
    """Every scenario of shape `name` through `condition` (offline unless `model`), offline user."""
    proc, scenarios = shape(name)
    return run(run_conversations(build_condition(condition, proc, model or offline()),
                                 UserSimulator(offline(), proc), scenarios))


def run(coro):
    return asyncio.run(coro)
