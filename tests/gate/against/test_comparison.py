"""Before vs after an edit: verdicts, messages, per-node rates, changed paths."""

from __future__ import annotations

import pytest

from gate.against.comparison import Version, compare_versions
from gate.result_store import ConversationResult
from harness.judges.llm_judge import JudgeResult
from harness.judges.rubric import Scores
from harness.judges.trace import TraceVerdict
from harness.procedure import load_procedure
from harness.scenarios import Scenario
from harness.transcript import Transcript, Turn
from tests.conftest import ROOT


def _result(condition: str, index: int, task: int, passes: dict[str, int] | None = None) -> ConversationResult:
    scores = Scores(task_success=task, information_accuracy=4, consistency=4, graceful_handling=3, naturalness=4)
    visits = {"greet": 1, "confirm_booking": 2}
    verdict_ = TraceVerdict(nodes=["greet"], confidence=[1.0], valid=True, off_chart_steps=[], skipped_nodes=[],
                            terminal="booked", terminal_kind="success", expected_terminal="booked",
                            terminal_fits=True, repeated_questions=[], node_visits=visits,
                            node_passes=passes if passes is not None else visits, edge_visits={})
    transcript = Transcript(procedure="travel_booking", condition=condition, scenario_index=index,
                            turns=[Turn(speaker="agent", text="hi")], end_reason="terminal")
    return ConversationResult(transcript=transcript, verdict=verdict_, judges=[JudgeResult(judge="offline",
                              scores=scores)], offline_scores=scores.model_dump())


def _scenarios(paths: list[tuple[str, ...]]) -> list[Scenario]:
    return [Scenario(index=i, procedure="travel_booking", variables={}, persona={}, path=p, seed=1)
            for i, p in enumerate(paths)]


@pytest.fixture
def versions():
    old = load_procedure(ROOT / "procedures/travel.yaml")
    new = old.model_copy(deep=True)
    new.nodes["confirm_booking"].prompt += " Ask for an email address."

    def make(before: list[int], after: list[int], *, moved: int = 0, broken: bool = False):
        paths = [("greet", "share_preferences", "customer_leaves")] * len(before)
        after_paths = [("greet", "handoff"), *paths[1:]] if moved else paths
        b = Version(procedure=old, scenarios=_scenarios(paths),
                    results={"subterranean": [_result("subterranean", i, t) for i, t in enumerate(before)]})
        a = Version(procedure=new, scenarios=_scenarios(after_paths),
                    results={"subterranean": [_result("subterranean", i, t, {"greet": 1} if broken else None)
                                              for i, t in enumerate(after)]})
        return b, a

    return make


def test_a_drop_beyond_the_margin_is_a_regression_in_the_issue_s_words(versions) -> None:
    before, after = versions([5, 5, 5, 4, 5, 5, 5, 5, 4, 5, 5, 5], [4, 4, 4, 4, 5, 4, 4, 4, 3, 4, 4, 5], broken=True)
    result = compare_versions("HEAD", before, after, criteria=["task_success", "naturalness"],
                              conditions=["subterranean"], margin=-0.25)
    row = result.criteria[0]
    assert row.verdict == "regressed" and not row.passed
    assert row.message.startswith("subterranean task_success regressed after the edit: 4.83 → 4.08, Δ −0.75, "
                                  "95 % CI [−")
    assert row.message.endswith("] over 12 paired scenarios; margin −0.25")
    assert row.low < row.delta < row.high < 0 and row.p_holm >= row.p_value
    assert result.criteria[1].verdict == "non-inferior"        # naturalness did not move
    node = {(n.node, n.status): n for n in result.nodes}
    changed = node[("confirm_booking", "changed")]
    assert (changed.before, changed.after) == (1.0, 0.0)
    assert node[("greet", "unchanged")].after == 1.0


def test_the_same_scores_are_non_inferior_and_better_ones_improved(versions) -> None:
    same = compare_versions("HEAD", *versions([4, 5, 3, 4], [4, 5, 3, 4]), criteria=["task_success"],
                            conditions=["subterranean"], margin=-0.25)
    assert same.criteria[0].verdict == "non-inferior" and same.criteria[0].delta == 0
    better = compare_versions("HEAD", *versions([3, 3, 3, 3, 4, 3], [5, 5, 4, 5, 5, 5]), criteria=["task_success"],
                              conditions=["subterranean"], margin=-0.25)
    assert better.criteria[0].verdict == "improved"


def test_scenarios_whose_path_moved_are_compared_and_marked(versions) -> None:
    result = compare_versions("HEAD", *versions([4, 4, 4], [4, 4, 4], moved=1), criteria=["task_success"],
                              conditions=["subterranean"], margin=-0.25)
    assert result.path_changed == [0] and result.criteria[0].path_changed == [0]
    assert result.criteria[0].pairs == 3


def test_too_few_pairs_are_inconclusive_and_a_positive_margin_is_refused(versions) -> None:
    result = compare_versions("HEAD", *versions([4], [4]), criteria=["task_success"],
                              conditions=["subterranean"], margin=-0.25)
    row = result.criteria[0]
    assert row.verdict == "inconclusive" and row.passed and result.inconclusive == [row]
    assert row.message == ("subterranean task_success inconclusive after the edit: only 1 paired scenario, "
                           "need at least 2 to compare; margin −0.25")
    strict = compare_versions("HEAD", *versions([4], [4]), criteria=["task_success"],
                              conditions=["subterranean"], margin=-0.25, inconclusive="fail")
    assert not strict.criteria[0].passed
    with pytest.raises(ValueError, match="must be <= 0"):
        compare_versions("HEAD", *versions([4, 4], [4, 4]), criteria=["task_success"],
                         conditions=["subterranean"], margin=0.5)


def test_no_change_on_few_scenarios_is_inconclusive_not_regressed(versions) -> None:
    """The issue's case: Δ 0 on 6 scenarios whose CI reaches past the margin."""
    result = compare_versions("HEAD", *versions([5, 4, 5, 5, 4, 5], [4, 5, 5, 4, 5, 5]), criteria=["task_success"],
                              conditions=["subterranean"], margin=-0.25)
    row = result.criteria[0]
    assert row.delta == 0 and row.low < -0.25 < 0 < row.high
    assert row.verdict == "inconclusive" and row.passed and not result.regressions
    assert row.needed is not None and row.needed > 6
    assert row.message.endswith(f"; about {row.needed} scenarios would decide it at this variance")


def test_pairs_spoiled_by_the_simulated_user_are_counted_apart(versions) -> None:
    from harness.simulator_faults import SimulatorFault

    before, after = versions([4, 4, 4, 4], [4, 4, 4, 1])
    spoiled = after.results["subterranean"][3].model_copy(
        update={"simulator_faults": [SimulatorFault(kind="ended_early", turn=None, detail="left")]})
    after.results["subterranean"][3] = spoiled
    row = compare_versions("HEAD", before, after, criteria=["task_success"], conditions=["subterranean"],
                           margin=-0.25).criteria[0]
    assert row.simulator_faults == [(3, 0)] and row.pairs == 3 and row.delta == 0
    assert "1 pairs with a simulated-user fault counted apart" in row.message
