"""Before vs after a procedure edit, on paired scenarios: the numbers of a regression check.

Pure and typed: it takes the two versions' evaluated conversations and says, per
condition × criterion, how the mean moved and whether that is an improvement, within the
margin, or a regression; per node, how the trace judge's pass rate moved. Scenario *i*
before is paired with scenario *i* after (sampling is stable under an edit, see
`harness.procedure.paths.keyed_walk`); pairs whose path the edit changed are compared
too, and listed.

The verdict rule (improved, non-inferior, inconclusive, regressed) and its wording are
`gate.verdicts`'; Δ's CI is clustered by scenario, pairs are (scenario, trial).

Wilcoxon signed-rank p-values are Holm-adjusted within each condition, across criteria;
they are reported beside the verdict, which rests on the CI.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from gate.result_store import ConversationResult, scores_by_trial
from gate.verdicts import Evidence, InconclusivePolicy, Verdict, gate_passes, paired_evidence
from harness.procedure import Procedure
from harness.procedure.diff import ProcedureDiff, diff_procedures
from harness.scenarios import Scenario
from harness.seeds import stable_int
from harness.stats import holm

NodeStatus = Literal["added", "changed", "removed", "unchanged"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Version(_Frozen):
    """One version's side of the comparison: its procedure, scenarios and results."""

    procedure: Procedure
    scenarios: list[Scenario]
    results: dict[str, list[ConversationResult]]      # by condition


class CriterionChange(_Frozen):
    condition: str
    criterion: str
    pairs: int                          # paired (scenario, trial) conversations
    scenarios: int                      # paired scenarios (the CI's clusters)
    before: float | None                # means over the paired scenarios
    after: float | None
    delta: float | None
    low: float | None                   # paired bootstrap 95 % CI of Δ, clustered by scenario
    high: float | None
    p_value: float | None               # Wilcoxon signed-rank, after vs before
    p_holm: float | None                # Holm-adjusted within the condition
    margin: float
    verdict: Verdict
    needed: int | None = None           # inconclusive: scenarios that would decide it at this variance
    on_inconclusive: InconclusivePolicy = "pass"  # what an inconclusive verdict does to the gate (suite setting)
    path_changed: list[int]             # paired scenarios whose path the edit changed
    # (scenario, trial) pairs left out because the simulated customer spoiled a side of them
    simulator_faults: list[tuple[int, int]] = []

    @property
    def passed(self) -> bool:
        return gate_passes(self.verdict, self.on_inconclusive)

    @property
    def message(self) -> str:
        """One line, e.g. `subterranean task_success regressed after the edit: 4.83 → 4.08,
        Δ −0.75, 95 % CI [−1.08, −0.42] over 12 paired scenarios; margin −0.25`."""
        evidence = paired_evidence_of(self)
        apart = (f"; {len(self.simulator_faults)} pairs with a simulated-user fault counted apart"
                 if self.simulator_faults else "")
        return f"{self.condition} {self.criterion} {self.verdict} after the edit: {evidence.evidence_text()}{apart}"


class NodeChange(_Frozen):
    """The trace judge's pass rate at one node (passes / visits), before and after."""

    condition: str
    node: str
    status: NodeStatus
    before: float | None
    after: float | None
    visits_before: int
    visits_after: int


class EditComparison(_Frozen):
    ref: str
    diff: ProcedureDiff
    criteria: list[CriterionChange]
    nodes: list[NodeChange]
    path_changed: list[int]             # scenarios (by index) whose path differs between versions

    def row(self, condition: str, criterion: str) -> CriterionChange:
        return next(c for c in self.criteria if (c.condition, c.criterion) == (condition, criterion))

    @property
    def regressions(self) -> list[CriterionChange]:
        return [c for c in self.criteria if c.verdict == "regressed"]

    @property
    def inconclusive(self) -> list[CriterionChange]:
        return [c for c in self.criteria if c.verdict == "inconclusive"]


def paired_evidence_of(row: CriterionChange) -> Evidence:
    return Evidence.model_validate({k: getattr(row, k) for k in Evidence.model_fields})


def _criterion_changes(condition: str, before: list[ConversationResult], after: list[ConversationResult],
                       criteria: Sequence[str], margin: float, moved: set[int],
                       inconclusive: InconclusivePolicy) -> list[CriterionChange]:
    sb, sa = scores_by_trial(before), scores_by_trial(after)
    # A pair where the simulated customer spoiled either side says nothing about the edit:
    # counted apart, and listed.
    spoiled = {(r.transcript.scenario_index, r.transcript.trial) for r in [*before, *after] if r.simulator_faults}
    apart = sorted(spoiled & set(sb) & set(sa))
    paired = sorted(set(sb) & set(sa) - spoiled)
    changed = sorted(moved & {i for i, _ in paired})
    rows: list[dict] = []
    for criterion in criteria:
        evidence = paired_evidence({k: float(sb[k].get(criterion)) for k in paired},
                                   {k: float(sa[k].get(criterion)) for k in paired},
                                   margin=margin, seed=stable_int("edit", condition, criterion))
        rows.append(dict(evidence.model_dump(), condition=condition, criterion=criterion, path_changed=changed,
                         on_inconclusive=inconclusive, simulator_faults=apart))
    tested = [r for r in rows if r["p_value"] is not None]
    for r, p in zip(tested, holm([r["p_value"] for r in tested]) if tested else [], strict=True):
        r["p_holm"] = p
    return [CriterionChange.model_validate({"p_holm": None, **r}) for r in rows]


def _pass_rates(results: Sequence[ConversationResult]) -> tuple[dict[str, int], dict[str, int]]:
    visits: dict[str, int] = {}
    passes: dict[str, int] = {}
    for r in results:
        for node, k in r.verdict.node_visits.items():
            visits[node] = visits.get(node, 0) + k
        for node, k in r.verdict.node_passes.items():
            passes[node] = passes.get(node, 0) + k
    return visits, passes


def _node_changes(condition: str, old: Procedure, new: Procedure, diff: ProcedureDiff,
                  before: Sequence[ConversationResult], after: Sequence[ConversationResult]) -> list[NodeChange]:
    status: dict[str, NodeStatus] = {n: "added" for n in diff.nodes_added}
    status |= {c.node: "changed" for c in diff.nodes_changed}
    status |= {n: "removed" for n in diff.nodes_removed}
    (vb, pb), (va, pa) = _pass_rates(before), _pass_rates(after)
    order = [*new.nodes, *(n for n in old.nodes if n not in new.nodes)]
    return [NodeChange(condition=condition, node=n, status=status.get(n, "unchanged"),
                       before=pb.get(n, 0) / vb[n] if vb.get(n) else None,
                       after=pa.get(n, 0) / va[n] if va.get(n) else None,
                       visits_before=vb.get(n, 0), visits_after=va.get(n, 0)) for n in order]


def compare_versions(ref: str, before: Version, after: Version, *, criteria: Sequence[str],
                     conditions: Sequence[str], margin: float,
                     inconclusive: InconclusivePolicy = "pass") -> EditComparison:
    """The regression check of an edit: `before` is the version at `ref`, `after` the edited one."""
    if margin > 0:
        raise ValueError(f"the margin is how far a mean may drop, so it must be <= 0; got {margin}")
    diff = diff_procedures(before.procedure, after.procedure)
    paths_before = {s.index: s.path for s in before.scenarios}
    moved = {s.index for s in after.scenarios if paths_before.get(s.index, s.path) != s.path}
    rows: list[CriterionChange] = []
    nodes: list[NodeChange] = []
    for condition in conditions:
        b, a = before.results.get(condition, []), after.results.get(condition, [])
        rows += _criterion_changes(condition, b, a, criteria, margin, moved, inconclusive)
        nodes += _node_changes(condition, before.procedure, after.procedure, diff, b, a)
    return EditComparison(ref=ref, diff=diff, criteria=rows, nodes=nodes, path_changed=sorted(moved))

