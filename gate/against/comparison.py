"""Before vs after a procedure edit, on paired scenarios: the numbers of a regression check.

Pure and typed: it takes the two versions' evaluated conversations and says, per
condition × criterion, how the mean moved and whether that is an improvement, within the
margin, or a regression; per node, how the trace judge's pass rate moved. Scenario *i*
before is paired with scenario *i* after (sampling is stable under an edit, see
`harness.procedure.paths.keyed_walk`); pairs whose path the edit changed are compared
too, and listed.

Verdict, with Δ = after − before and its paired bootstrap 95 % CI [low, high] and a
margin m ≤ 0 (how far the mean may drop and still count as no worse):

    improved       low > 0     the edit made it better
    non-inferior   low > m     no worse than the margin allows
    regressed      low ≤ m     non-inferiority is not shown: the gate fails

Wilcoxon signed-rank p-values are Holm-adjusted within each condition, across criteria;
they are reported beside the verdict, which rests on the CI.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from gate.result_store import ConversationResult, scores_by_scenario
from harness.procedure import Procedure
from harness.procedure.diff import ProcedureDiff, diff_procedures
from harness.scenarios import Scenario
from harness.seeds import stable_int
from harness.stats import (
    align_by_scenario,
    bootstrap_mean_difference_ci,
    holm,
    wilcoxon_signed_rank,
)

Verdict = Literal["improved", "non-inferior", "regressed"]
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
    pairs: int
    before: float | None                # means over the paired scenarios
    after: float | None
    delta: float | None
    low: float | None                   # paired bootstrap 95 % CI of Δ
    high: float | None
    p_value: float | None               # Wilcoxon signed-rank, after vs before
    p_holm: float | None                # Holm-adjusted within the condition
    margin: float
    verdict: Verdict
    path_changed: list[int]             # paired scenarios whose path the edit changed

    @property
    def passed(self) -> bool:
        return self.verdict != "regressed"

    @property
    def message(self) -> str:
        """One line, e.g. `subterranean task_success regressed after the edit: 4.83 → 4.08,
        Δ −0.75, 95 % CI [−1.08, −0.42] over 12 paired scenarios; margin −0.25`."""
        what = f"{self.condition} {self.criterion}"
        if self.delta is None:
            return (f"{what} regressed after the edit: only {self.pairs} paired scenarios, need at least 2 "
                    f"to compare; margin {_num(self.margin)}")
        return (f"{what} {self.verdict} after the edit: {self.before:.2f} → {self.after:.2f}, "
                f"Δ {_num(self.delta, sign=True)}, 95 % CI [{_num(self.low)}, {_num(self.high)}] "
                f"over {self.pairs} paired scenarios; margin {_num(self.margin)}")


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


def _num(x: float | None, *, sign: bool = False) -> str:
    """Two decimals with a true minus sign, as the messages print them."""
    text = f"{x:+.2f}" if sign else f"{x:.2f}"
    return text.replace("-", "−")


def verdict(low: float, margin: float) -> Verdict:
    if low > 0:
        return "improved"
    return "non-inferior" if low > margin else "regressed"


def _criterion_changes(condition: str, before: list[ConversationResult], after: list[ConversationResult],
                       criteria: Sequence[str], margin: float, moved: set[int]) -> list[CriterionChange]:
    index, xb, xa = align_by_scenario(scores_by_scenario(before), scores_by_scenario(after))
    changed = sorted(moved & set(index))
    rows: list[dict] = []
    for criterion in criteria:
        b = [float(s.get(criterion)) for s in xb]
        a = [float(s.get(criterion)) for s in xa]
        row = dict(condition=condition, criterion=criterion, pairs=len(index), margin=margin,
                   path_changed=changed, before=None, after=None, delta=None, low=None, high=None,
                   p_value=None, verdict="regressed")
        if len(index) >= 2:
            ci = bootstrap_mean_difference_ci(a, b, paired=True, seed=stable_int("edit", condition, criterion))
            row.update(before=sum(b) / len(b), after=sum(a) / len(a), delta=ci.estimate, low=ci.low,
                       high=ci.high, p_value=wilcoxon_signed_rank(a, b).p_value, verdict=verdict(ci.low, margin))
        rows.append(row)
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
                     conditions: Sequence[str], margin: float) -> EditComparison:
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
        rows += _criterion_changes(condition, b, a, criteria, margin, moved)
        nodes += _node_changes(condition, before.procedure, after.procedure, diff, b, a)
    return EditComparison(ref=ref, diff=diff, criteria=rows, nodes=nodes, path_changed=sorted(moved))

