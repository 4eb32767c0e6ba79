"""The report's reliability section, per condition: pass^k for k = 1 … K (overall, per
intended path and per node the paths pass), the flaky scenarios, and the conversations a
simulated-user fault spoiled (counted apart from the agent's failures, and listed).

The pass criterion is the gate's (`ConversationResult.passed`): a terminal reached on a
valid trace and task success ≥ 4. Conversations with a simulated-user fault are left out
of pass^k, as of the failure rate: they say nothing about the agent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from gate.checks import trial_outcomes
from gate.result_store import ConversationResult
from harness.reliability import flaky, pass_k_curve
from harness.scenarios import Scenario

__all__ = ["ConditionReliability", "FaultView", "FlakyScenario", "GroupPassK", "condition_reliability",
           "transcript_anchor"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class FlakyScenario(_Frozen):
    scenario_index: int
    passed: int
    trials: int
    anchors: list[str]           # the transcripts' ids in the HTML report, trial order


class FaultView(_Frozen):
    scenario_index: int
    trial: int
    kind: str
    turn: int | None
    detail: str
    anchor: str
    rerun: bool = False          # an earlier attempt's fault: the conversation was run again


class GroupPassK(_Frozen):
    """pass^k of the scenarios sharing an intended path, or passing through a node."""

    key: str                     # "greet → share_preferences → …" or a node id
    scenarios: int
    pass_k: dict[int, float]


class ConditionReliability(_Frozen):
    condition: str
    trials: int                              # most trials any scenario has
    scenarios: int                           # scenarios with a fault-free trial
    pass_k: dict[int, float]                 # k -> pass^k (tau-bench's estimator)
    by_path: list[GroupPassK]
    by_node: list[GroupPassK]
    flaky: list[FlakyScenario]
    simulator_faults: list[FaultView]        # conversations counted apart, and faults of replaced attempts


def transcript_anchor(procedure: str, condition: str, index: int, trial: int) -> str:
    """The id of a transcript's element in the HTML report."""
    return f"t-{procedure}-{condition}-{index}-{trial}"


def _group(outcomes: Mapping[int, tuple[int, int]], members: Mapping[str, list[int]], k: int) -> list[GroupPassK]:
    out = []
    for key, indices in members.items():
        own = {i: outcomes[i] for i in indices if i in outcomes}
        if own:
            out.append(GroupPassK(key=key, scenarios=len(own), pass_k=pass_k_curve(own, k)))
    return out


def condition_reliability(condition: str, results: Sequence[ConversationResult],
                          scenarios: Sequence[Scenario] = ()) -> ConditionReliability:
    """One condition's pass^k, flaky scenarios and simulated-user faults; `scenarios` (their
    intended paths) add pass^k per path and per node where given."""
    results = list(results)
    outcomes = trial_outcomes(results)
    trials = max((n for _, n in outcomes.values()), default=0)
    by_index: dict[int, list[ConversationResult]] = {}
    for r in sorted(results, key=lambda r: (r.transcript.scenario_index, r.transcript.trial)):
        by_index.setdefault(r.transcript.scenario_index, []).append(r)
    paths: dict[str, list[int]] = {}
    nodes: dict[str, list[int]] = {}
    for s in scenarios:
        paths.setdefault(" → ".join(s.path), []).append(s.index)
        for node in dict.fromkeys(s.path):
            nodes.setdefault(node, []).append(s.index)
    return ConditionReliability(
        condition=condition, trials=trials, scenarios=len(outcomes), pass_k=pass_k_curve(outcomes, trials),
        by_path=_group(outcomes, dict(sorted(paths.items())), trials),
        by_node=_group(outcomes, nodes, trials),
        flaky=[FlakyScenario(scenario_index=i, passed=outcomes[i][0], trials=outcomes[i][1],
                             anchors=[transcript_anchor(r.transcript.procedure, condition, i, r.transcript.trial)
                                      for r in by_index[i]])
               for i in flaky(outcomes)],
        simulator_faults=[FaultView(scenario_index=r.transcript.scenario_index, trial=r.transcript.trial,
                                    kind=f.kind, turn=f.turn, detail=f.detail,
                                    anchor=transcript_anchor(r.transcript.procedure, condition,
                                                             r.transcript.scenario_index, r.transcript.trial))
                          for rs in by_index.values() for r in rs for f in r.simulator_faults]
        + [FaultView(scenario_index=r.transcript.scenario_index, trial=r.transcript.trial, kind=f.kind, turn=f.turn,
                     detail=f.detail, rerun=True,
                     anchor=transcript_anchor(r.transcript.procedure, condition, r.transcript.scenario_index,
                                              r.transcript.trial))
           for rs in by_index.values() for r in rs for f in r.rerun_after])
