"""Conversations between a condition and the simulated user (paper §3).

Whoever the procedure's start node belongs to speaks first (the agent, or the customer
opening the chat), then they alternate — one message each, a chain of agent steps being one
agent message — until the condition reaches a terminal node,
the user ends, or the turn cap. Many conversations run concurrently; with a local model the
turns they wait on at the same time are decoded in one batch (see `harness.llm.local`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Sequence

from harness.backend import Backend, ToolFailure, error_result
from harness.conditions import Condition
from harness.llm.base import ToolCall, Usage
from harness.llm.batching import BatchingProvider
from harness.llm.errors import LLMError
from harness.procedure import Role
from harness.scenarios import Scenario
from harness.simulator import SimulatorError, UserSimulator
from harness.transcript import EndReason, Incidents, Transcript, Turn

DEFAULT_MAX_TURNS = 60     # the longest shipped path has 39 turns


async def run_conversation(condition: Condition, simulator: UserSimulator, scenario: Scenario, *,
                           max_turns: int = DEFAULT_MAX_TURNS) -> Transcript:
    """One conversation; model failures end it with a reason instead of raising."""
    agent, user = condition.session(scenario), simulator.session(scenario)
    turns: list[Turn] = []
    agent_usage, routing_usage, user_usage = Usage(), Usage(), Usage()
    agent_model = user_model = ""
    terminal: str | None = None
    error: str | None = None
    failed_call = False
    visited: list[str] = []
    incidents = Incidents()
    reason: EndReason = "turn_cap"
    started = time.perf_counter()
    procedure = condition.procedure
    agent_next = procedure.nodes[procedure.start].role is Role.AGENT    # else the customer opens
    # This conversation's own copy of the scenario's backend: what its tool calls act on.
    backend = Backend(scenario.backend.spec, scenario.backend.initial) if scenario.backend is not None else None
    while len(turns) < max_turns:
        if agent_next:
            try:
                reply = await agent.reply(turns)
            except LLMError as e:
                reason, error, failed_call = "agent_error", str(e), True
                break
            agent_usage, routing_usage = agent_usage + reply.generation, routing_usage + reply.routing
            agent_model = reply.model or agent_model
            visited += reply.chain + ([reply.node] if reply.node is not None else [])
            incidents += Incidents(unparsed_routes=reply.unparsed_routes,
                                   constrained_routes=reply.constrained_routes,
                                   unparsed_tool_calls=reply.unparsed_tool_calls)
            if reply.tool_call is not None:   # the agent acts: call, result, and the agent goes on
                call = reply.tool_call if reply.tool_call.id else reply.tool_call.model_copy(
                    update={"id": f"call_{len(turns)}"})
                result, failed = await execute_tool(backend, call)
                incidents += Incidents(tool_errors=int(failed))
                turns.append(Turn(speaker="agent", text=reply.text, tool_call=call))
                turns.append(Turn(speaker="tool", text=json.dumps(result, sort_keys=True), tool_call=call))
                continue
            if reply.text or not reply.terminal:     # a customer terminal ends with no agent words
                turns.append(Turn(speaker="agent", text=reply.text))
                incidents += Incidents(empty_agent_replies=int(not reply.text))
            if reply.terminal:
                reason, terminal = "terminal", reply.terminal
                break
        else:
            try:
                said = await user.reply(turns)
            except SimulatorError as e:
                reason, error = "simulator_error", str(e)
                incidents += Incidents(empty_user_replies=e.empty_replies)
                break
            except LLMError as e:
                reason, error, failed_call = "simulator_error", str(e), True
                break
            user_usage = user_usage + said.usage
            incidents += Incidents(empty_user_replies=said.empty_replies)
            user_model = said.model or user_model
            if said.text:
                turns.append(Turn(speaker="user", text=said.text))
            if said.ended:
                reason = "user_ended"
                break
        agent_next = not agent_next
    return Transcript(
        procedure=condition.procedure.name, condition=condition.name, scenario_index=scenario.index,
        trial=scenario.trial, turns=turns, end_reason=reason, terminal=terminal, agent_usage=agent_usage,
        routing_usage=routing_usage, user_usage=user_usage,
        wall_clock_s=round(time.perf_counter() - started, 3), agent_model=agent_model,
        user_model=user_model, error=error, visited=visited, incidents=incidents, cut_by_failed_call=failed_call,
        backend_end=backend.snapshot() if backend is not None else None)


async def execute_tool(backend: Backend | None, call: ToolCall) -> tuple[dict, bool]:
    """The tool's reply to `call`, and whether it failed (the agent then sees an error result)."""
    if backend is None:
        return error_result(f"no backend: this scenario declares none, so tool '{call.name}' cannot run"), True
    try:
        return await backend.call(call.name, dict(call.arguments)), False
    except ToolFailure as e:
        return error_result(str(e)), True


async def run_conversations(condition: Condition, simulator: UserSimulator, scenarios: Sequence[Scenario], *,
                            concurrency: int = 16, max_turns: int = DEFAULT_MAX_TURNS,
                            on_done: Callable[[Transcript], None] | None = None) -> list[Transcript]:
    """Every scenario's conversation, `concurrency` at a time; results in scenario order.

    A local model that batches (harness.llm.batching) is told each running conversation is one
    of its callers: its batches are then every running conversation's next request, whatever
    the timing, so the transcripts do not depend on how busy the machine was."""
    semaphore = asyncio.Semaphore(concurrency)
    provider = getattr(condition.model, "provider", None)
    batching = provider if isinstance(provider, BatchingProvider) else None

    async def one(scenario: Scenario) -> Transcript:
        async with semaphore:
            with batching.caller() if batching is not None else contextlib.nullcontext():
                transcript = await run_conversation(condition, simulator, scenario, max_turns=max_turns)
        if on_done is not None:
            on_done(transcript)
        return transcript

    return list(await asyncio.gather(*(one(s) for s in scenarios)))
