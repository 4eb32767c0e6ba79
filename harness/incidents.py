"""What the models of one condition's conversations did that the pipeline absorbed, per role.

A model that talks is not a fake that returns the expected answer: a judge replies in prose,
a router names no option, a customer never says goodbye or says nothing. None of these stops
a run (see `harness.runner`, `harness.simulator`, `harness.judges.llm_judge`); this module
counts them so that the report can show, per condition and role, how often each happened.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, computed_field

from harness.judges.llm_judge import JudgeResult
from harness.transcript import Transcript


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


class JudgeHandling(BaseModel):
    """One judge over one condition's conversations."""

    model_config = ConfigDict(frozen=True)

    judge: str
    judged: int                 # conversations it was asked to score
    invalid_first: int          # first replies that were not the rubric's JSON
    repaired: int               # ... of which the repair request's reply was valid
    unparsed: int               # conversations left unscored after the repair request
    call_failures: int          # conversations whose judge call failed (server error, overflow)
    # Conversations whose judge reply the provider constrained to the rubric's schema; the
    # rest were parsed from free text (offline, or a provider that cannot constrain).
    constrained: int = Field(default=0, exclude_if=lambda value: not value)

    @computed_field
    @property
    def parse_failure_rate(self) -> float | None:
        return _rate(self.invalid_first, self.judged - self.call_failures)

    @computed_field
    @property
    def repair_rate(self) -> float | None:
        return _rate(self.repaired, self.invalid_first)


class Handling(BaseModel):
    """One condition: the agent's, the router's, the customer's and each judge's counts."""

    model_config = ConfigDict(frozen=True)

    conversations: int
    agent_turns: int
    empty_agent_replies: int
    agent_errors: int           # conversations ended by a failed agent call
    routing_calls: int
    unparsed_routes: int        # router replies naming no option: the first edge was taken
    constrained_routes: int = Field(default=0, exclude_if=lambda value: not value)  # constrained to the options
    empty_user_replies: int     # each asked again once
    simulator_errors: int       # conversations ended by the customer's failure (e.g. silent twice)
    turn_cap_endings: int       # conversations nobody ended: cut at the turn cap
    judges: list[JudgeHandling]
    # Tool calls that failed (raised, timed out, unknown tool): the agent saw an error result.
    tool_errors: int = Field(default=0, exclude_if=lambda value: not value)
    # Tool calls the model wrote unreadably (subterranean: kept as words) or, at an orchestrated
    # tool step, arguments that did not parse or fit the schema (the slot values were used).
    unparsed_tool_calls: int = Field(default=0, exclude_if=lambda value: not value)

    @computed_field
    @property
    def unparsed_route_rate(self) -> float | None:
        return _rate(self.unparsed_routes, self.routing_calls)

    @property
    def absorbed(self) -> int:
        """Everything counted here: 0 means the models behaved throughout."""
        return (self.empty_agent_replies + self.agent_errors + self.unparsed_routes + self.empty_user_replies
                + self.simulator_errors + self.turn_cap_endings + self.tool_errors + self.unparsed_tool_calls
                + sum(j.invalid_first + j.call_failures for j in self.judges))


def judge_handling(judge: str, results: Sequence[JudgeResult]) -> JudgeHandling:
    return JudgeHandling(
        judge=judge, judged=len(results),
        invalid_first=sum(r.invalid_replies >= 1 for r in results),
        repaired=sum(r.repaired for r in results),
        unparsed=sum(r.scores is None and not r.call_failed for r in results),
        call_failures=sum(r.call_failed for r in results),
        constrained=sum(r.constrained for r in results))


def handling(transcripts: Sequence[Transcript], judged: Sequence[Sequence[JudgeResult]]) -> Handling:
    """Counts over one condition's transcripts; `judged[i]` are the judges' results of
    transcript i, one per judge in the same order for every transcript."""
    if len(judged) != len(transcripts):
        raise ValueError(f"expected judge results for {len(transcripts)} transcripts, found {len(judged)}")
    ends = [t.end_reason for t in transcripts]
    per_judge = list(zip(*judged, strict=True)) if judged else []
    return Handling(
        conversations=len(transcripts),
        agent_turns=sum(turn.speaker == "agent" for t in transcripts for turn in t.turns),
        empty_agent_replies=sum(t.incidents.empty_agent_replies for t in transcripts),
        agent_errors=ends.count("agent_error"),
        routing_calls=sum(t.routing_usage.calls for t in transcripts),
        unparsed_routes=sum(t.incidents.unparsed_routes for t in transcripts),
        constrained_routes=sum(t.incidents.constrained_routes for t in transcripts),
        empty_user_replies=sum(t.incidents.empty_user_replies for t in transcripts),
        simulator_errors=ends.count("simulator_error"),
        turn_cap_endings=ends.count("turn_cap"),
        tool_errors=sum(t.incidents.tool_errors for t in transcripts),
        unparsed_tool_calls=sum(t.incidents.unparsed_tool_calls for t in transcripts),
        judges=[judge_handling(results[0].judge, results) for results in per_judge])
