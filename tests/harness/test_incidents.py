"""Counting what talking models did: per role, per judge, with rates that say 'none' when undefined."""

from __future__ import annotations

import pytest

from harness.incidents import handling
from harness.judges.llm_judge import JudgeResult
from harness.judges.rubric import Scores
from harness.llm import Usage
from harness.transcript import Incidents, Transcript, Turn

SCORES = Scores(task_success=4, information_accuracy=4, consistency=4, graceful_handling=3, naturalness=4)


def transcript(end: str, *, routes: int = 0, unparsed: int = 0, empty_user: int = 0) -> Transcript:
    return Transcript(procedure="p", condition="orchestrated", scenario_index=0, end_reason=end,
                      turns=[Turn(speaker="agent", text="Hi"), Turn(speaker="user", text="Hello"),
                             Turn(speaker="agent", text="")],
                      routing_usage=Usage(calls=routes),
                      incidents=Incidents(unparsed_routes=unparsed, empty_agent_replies=1,
                                          empty_user_replies=empty_user))


def ok(judge: str, invalid: int = 0) -> JudgeResult:
    return JudgeResult(judge=judge, scores=SCORES, repaired=invalid == 1, invalid_replies=invalid)


def failed(judge: str, *, call: bool = False) -> JudgeResult:
    return JudgeResult(judge=judge, scores=None, failure="x", invalid_replies=0 if call else 2, call_failed=call)


def test_counts_per_role_and_per_judge() -> None:
    transcripts = [transcript("turn_cap", routes=4, unparsed=1), transcript("user_ended", routes=2),
                   transcript("simulator_error", routes=2, unparsed=2, empty_user=2)]
    judged = [[ok("a"), ok("b", 1)], [ok("a", 1), failed("b")], [failed("a", call=True), ok("b")]]
    h = handling(transcripts, judged)
    assert (h.conversations, h.agent_turns, h.empty_agent_replies) == (3, 6, 3)
    assert (h.routing_calls, h.unparsed_routes, h.unparsed_route_rate) == (8, 3, 3 / 8)
    assert (h.empty_user_replies, h.simulator_errors, h.turn_cap_endings, h.agent_errors) == (2, 1, 1, 0)
    a, b = h.judges
    assert (a.judge, a.judged, a.invalid_first, a.repaired, a.unparsed, a.call_failures) == ("a", 3, 1, 1, 0, 1)
    assert a.parse_failure_rate == 1 / 2 and a.repair_rate == 1.0
    assert (b.invalid_first, b.repaired, b.unparsed, b.parse_failure_rate, b.repair_rate) == (2, 1, 1, 2 / 3, 1 / 2)
    assert h.absorbed == 3 + 3 + 2 + 1 + 1 + (1 + 1) + 2


def test_rates_are_none_when_nothing_was_asked() -> None:
    h = handling([transcript("terminal")], [[ok("offline")]])
    assert h.unparsed_route_rate is None and h.judges[0].repair_rate is None
    assert h.judges[0].parse_failure_rate == 0.0


def test_results_must_line_up_with_transcripts() -> None:
    with pytest.raises(ValueError, match="2 transcripts, found 1"):
        handling([transcript("terminal")] * 2, [[ok("a")]])
