"""Judging a condition's transcripts: the trace judge and the offline scores, then each
LLM judge on the rubric (judges see no condition)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from gate.results import ConversationResult
from harness.judges.actions import judge_actions
from harness.judges.llm_judge import judge_transcript
from harness.judges.offline import offline_scores
from harness.scenarios import Scenario
from harness.transcript import Transcript

if TYPE_CHECKING:
    from compile.pipeline import CompiledModel
    from gate.run import ProcedureRun


async def judge_conversations(proc: ProcedureRun, compiled: CompiledModel, transcripts: list[Transcript],
                              scenarios: list[Scenario]) -> list[ConversationResult]:
    """Trace-judge and rubric-judge each transcript; the LLM judges' calls all run
    concurrently, within the LLM layer's limits."""
    domains = {k: v for k, v in proc.scenario_set.variables.items() if isinstance(v, list)}

    async def one(transcript: Transcript, scenario: Scenario) -> ConversationResult:
        verdict = compiled.trace_judge.judge(transcript.turns, scenario.path)
        offline = offline_scores(verdict, transcript.turns, intended_path=scenario.path,
                                 variables=scenario.variables, challenge=scenario.challenge, domains=domains)
        judged = await asyncio.gather(*(
            judge_transcript(m, transcript.turns, challenge_posed=scenario.challenge, offline_scores=offline,
                             seed=scenario.index) for m in proc.models.judges))
        return ConversationResult(transcript=transcript, verdict=verdict, judges=list(judged),
                                  offline_scores=offline,
                                  actions=judge_actions(proc.procedure, scenario, transcript))

    return list(await asyncio.gather(*(one(t, s) for t, s in zip(transcripts, scenarios, strict=True))))
