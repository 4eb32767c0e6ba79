from __future__ import annotations

from gate.checks import (
    FailureRateCheck,
    MeanCheck,
    NonInferiorityCheck,
    conversation_problems,
)
from gate.result_store import ConversationResult
from gate.suite import FailureThreshold, MeanThreshold, NonInferiority, PerConversation
from harness.judges.llm_judge import JudgeResult
from harness.judges.rubric import Scores
from harness.judges.trace import TraceVerdict
from harness.transcript import Transcript, Turn


def result(condition: str, index: int, task: int, *, terminal: str | None = "booked", valid: bool = True,
           judge_ok: bool = True) -> ConversationResult:
    scores = Scores(task_success=task, information_accuracy=4, consistency=4, graceful_handling=3, naturalness=4)
    verdict = TraceVerdict(nodes=["greet", "booked"], confidence=[1.0, 1.0], valid=valid,
                           off_chart_steps=[] if valid else [(1, "greet", "booked")], skipped_nodes=[],
                           terminal=terminal, terminal_kind="success" if terminal else None,
                           expected_terminal="booked", terminal_fits=terminal == "booked",
                           repeated_questions=[], node_visits={}, node_passes={}, edge_visits={})
    judge = JudgeResult(judge="offline", scores=scores) if judge_ok else JudgeResult(
        judge="offline", scores=None, failure="invalid JSON")
    transcript = Transcript(procedure="p", condition=condition, scenario_index=index,
                            turns=[Turn(speaker="agent", text="hi")], end_reason="terminal")
    return ConversationResult(transcript=transcript, verdict=verdict, judges=[judge],
                              offline_scores=scores.model_dump())


def test_conversation_problems_name_the_scenario_and_the_problem() -> None:
    spec = PerConversation()
    assert conversation_problems(result("subterranean", 1, 5), spec) == []
    problems = conversation_problems(result("subterranean", 3, 2, terminal=None, valid=False, judge_ok=False), spec)
    assert len(problems) == 3
    assert all(p.startswith("p/subterranean scenario 3:") for p in problems)
    assert "no terminal reached" in problems[0] and "leaves the flowchart" in problems[1]
    assert "judge offline failed: invalid JSON" in problems[2]


def test_mean_threshold_passes_and_fails_with_the_value_in_the_message() -> None:
    rs = [result("subterranean", i, t) for i, t in enumerate([5, 4, 3])]
    ok = MeanCheck(MeanThreshold(condition="subterranean", criterion="task_success", min_mean=4.0)).run([rs])
    bad = MeanCheck(MeanThreshold(condition="subterranean", criterion="task_success", min_mean=4.5)).run([rs])
    assert ok.passed and ok.value == 4.0
    assert not bad.passed and "mean task_success = 4.00 over 3 scenarios, bound >= 4.5" in bad.message


def test_failure_rate_lists_failing_scenarios() -> None:
    rs = [result("subterranean", i, t) for i, t in enumerate([5, 3, 2, 5])]
    check = FailureRateCheck(FailureThreshold(condition="subterranean", max_failure_rate=0.25)).run([rs])
    assert not check.passed and check.value == 0.5
    assert "2/4" in check.message and "failing scenarios: 1, 2" in check.message


def test_judge_failures_are_left_out_not_scored() -> None:
    rs = [result("subterranean", 0, 5), result("subterranean", 1, 1, judge_ok=False)]
    assert MeanCheck(MeanThreshold(condition="subterranean", criterion="task_success", min_mean=5)).run([rs]).passed


def test_non_inferiority_uses_the_paired_ci_lower_bound() -> None:
    a = [result("subterranean", i, t) for i, t in enumerate([5, 5, 4, 5, 4, 5, 5, 4])]
    close = [result("orchestrated", i, t) for i, t in enumerate([5, 4, 4, 5, 4, 5, 5, 5])]
    far = [result("orchestrated", i, 5) for i in range(8)]
    spec = NonInferiority(a="subterranean", b="orchestrated", criterion="task_success", margin=-0.5)
    assert NonInferiorityCheck(spec).run([a, close]).passed
    worse = [result("subterranean", i, 2) for i in range(8)]
    check = NonInferiorityCheck(spec).run([worse, far])
    assert not check.passed and check.value == -3.0 and "8 paired scenarios" in check.message


def _trial(r: ConversationResult, trial: int) -> ConversationResult:
    return r.model_copy(update={"transcript": r.transcript.model_copy(update={"trial": trial})})


def test_failure_rate_counts_trials_and_sets_simulated_user_faults_apart() -> None:
    from harness.simulator_faults import SimulatorFault

    spoiled = result("subterranean", 1, 1).model_copy(update={"simulator_faults": [
        SimulatorFault(kind="spoke_as_agent", turn=3, detail="opens with an agent's label")]})
    rs = [result("subterranean", 0, 5), _trial(result("subterranean", 0, 2), 1), _trial(spoiled, 2),
          result("subterranean", 1, 5)]
    check = FailureRateCheck(FailureThreshold(condition="subterranean", max_failure_rate=0.5)).run([rs])
    assert check.passed and check.value == 1 / 3
    assert "1/3 conversations" in check.message and "failing scenarios: 0/t1" in check.message
    assert check.warning == "1 conversation with a simulated-user fault counted apart: 1/t2"


def test_non_inferiority_with_trials_pairs_by_scenario_and_trial() -> None:
    a = [_trial(result("subterranean", i, t), k) for i, ts in enumerate([[5, 4], [4, 4], [5, 5]]) for k, t in enumerate(ts)]
    b = [_trial(result("orchestrated", i, t), k) for i, ts in enumerate([[4, 4], [4, 3], [5, 4]]) for k, t in enumerate(ts)]
    check = NonInferiorityCheck(NonInferiority(a="subterranean", b="orchestrated", criterion="task_success",
                                               margin=-0.5)).run([a, b])
    assert "over 3 paired scenarios (6 paired trials)" in check.message and check.passed


def test_action_threshold_reads_end_state_and_tool_call_accuracy() -> None:
    import pytest
    from pydantic import ValidationError

    from gate.checks import ActionCheck
    from gate.suite import ActionThreshold
    from harness.judges.actions import ActionVerdict, StepVerdict

    def acted(index: int, end: bool, right: bool) -> ConversationResult:
        step = StepVerdict(node="verify", tool="verify_identity", expected={}, right_tool=True,
                           right_arguments=right, right_point=True)
        return result("subterranean", index, 5).model_copy(
            update={"actions": ActionVerdict(end_state_match=end, steps=[step])})

    group = [acted(0, True, True), acted(1, True, False), acted(2, False, True), acted(3, True, True)]
    passing = ActionCheck(ActionThreshold(condition="subterranean", min_end_state_match=0.75)).run([group])
    assert passing.passed and passing.value == 0.75
    failing = ActionCheck(ActionThreshold(condition="subterranean", min_end_state_match=0.5,
                                          min_tool_call_accuracy=0.8)).run([group])
    assert not failing.passed and "tool-call accuracy 75%" in failing.message
    assert "below bound: tool-call accuracy" in failing.message
    none = ActionCheck(ActionThreshold(condition="subterranean", min_end_state_match=0.5)).run(
        [[result("subterranean", 0, 5)]])
    assert not none.passed and "no conversation has a backend" in none.message
    with pytest.raises(ValidationError, match="needs min_end_state_match or min_tool_call_accuracy"):
        ActionThreshold(condition="subterranean")
