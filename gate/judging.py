"""Judging a condition's transcripts: the trace judge and the offline scores, then each
LLM judge on the rubric (judges see no condition)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from gate.result_store import ConversationResult
from harness.judges.actions import judge_actions
from harness.judges.llm_judge import judge_transcript
from harness.judges.offline import offline_scores
from harness.llm.errors import LLMError
from harness.scenarios import Scenario
from harness.simulator_faults import (
    SimulatorFault,
    fault_question,
    parse_fault_answer,
    simulator_faults,
)
from harness.transcript import Transcript

if TYPE_CHECKING:
    from compile.pipeline import CompiledModel
    from gate.run import ProcedureRun


async def _judged_fault(proc: ProcedureRun, transcript: Transcript, scenario: Scenario) -> list[SimulatorFault]:
    """The LLM-judge question of `harness.simulator_faults`, asked of the primary judge; the
    offline stand-in cannot read a conversation, so it is not asked."""
    judge = proc.models.judges[0]
    if "offline" in judge.name:
        return []
    try:
        reply = await judge.generate(fault_question(transcript, scenario, proc.procedure))
    except LLMError:
        return []               # the check is advisory: a failed call marks nothing
    fault = parse_fault_answer(reply.text)
    return [fault] if fault else []


async def judge_conversations(proc: ProcedureRun, compiled: CompiledModel, transcripts: list[Transcript],
                              scenarios: list[Scenario]) -> list[ConversationResult]:
    """Trace-judge and rubric-judge each transcript; the LLM judges' calls all run
    concurrently, within the LLM layer's limits."""
    domains = {k: v for k, v in proc.scenario_set.variables.items() if isinstance(v, list)}

    async def one(transcript: Transcript, scenario: Scenario) -> ConversationResult:
        verdict = compiled.trace_judge.judge(transcript.turns, scenario.path)
        offline = offline_scores(verdict, transcript.turns, intended_path=scenario.path,
                                 variables=scenario.variables, challenge=scenario.challenge, domains=domains)
        faults = simulator_faults(transcript, scenario, proc.procedure, domains=domains,
                                  agent_finished=verdict.terminal is not None)
        judged = await asyncio.gather(*(
            judge_transcript(m, transcript.turns, challenge_posed=scenario.challenge, offline_scores=offline,
                             seed=scenario.index) for m in proc.models.judges))
        result = ConversationResult(transcript=transcript, verdict=verdict, judges=list(judged),
                                    offline_scores=offline, simulator_faults=faults,
                                    actions=judge_actions(proc.procedure, scenario, transcript))
        if not faults and not result.passed:     # what no rule sees: ask the primary judge, if it can read
            result.simulator_faults = await _judged_fault(proc, transcript, scenario)
        return result

    return list(await asyncio.gather(*(one(t, s) for t, s in zip(transcripts, scenarios, strict=True))))
