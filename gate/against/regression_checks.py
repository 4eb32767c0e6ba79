"""`--gate-against REF`: the edited procedure's results beside its version at REF, on the
same scenario indices, and one regression check per condition × criterion.

REF's results come from the results store when a gate of REF's version left them there
(they are keyed by that version's fingerprint: procedure, scenarios, suite settings,
recipe); otherwise REF's version runs now, with its own procedure, scenarios and suite,
its compiled model taken from the compile store or compiled once. The numbers and
verdicts are `gate.against.comparison`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gate.against.comparison import EditComparison, Version, compare_versions
from gate.checks import AggregateCheck, CheckResult
from gate.conversations import evaluate_condition

if TYPE_CHECKING:
    from compile.pipeline import CompiledModel
    from gate.run import ProcedureRun


class _CompiledOnDemand:
    """An earlier version's compiled model, compiled (or read from the compile store) only
    when one of its conversations has to run: results already stored need no model."""

    def __init__(self, proc: ProcedureRun) -> None:
        self._proc = proc
        self._model: CompiledModel | None = None

    def __getattr__(self, name: str) -> Any:
        if self._model is None:
            self._model = self._proc.compile()
        return getattr(self._model, name)


def edit_comparison(proc: ProcedureRun, compiled: CompiledModel) -> EditComparison:
    """Before vs after the edit since `proc.against`."""
    old = proc.before
    if old is None or old.at_ref is None:
        raise ValueError(f"{proc.key}: no version at {proc.against!r} to compare with")
    spec = proc.suite.regression
    conditions = proc.suite.regression_conditions
    after = {c: evaluate_condition(proc, compiled, c, alongside=conditions) for c in conditions}
    old_compiled: Any = _CompiledOnDemand(old)
    before = {c: evaluate_condition(old, old_compiled, c, alongside=conditions) for c in conditions}
    return compare_versions(
        old.at_ref.ref, Version(procedure=old.procedure, scenarios=old.scenarios, results=before),
        Version(procedure=proc.procedure, scenarios=proc.scenarios, results=after),
        criteria=spec.criteria, conditions=conditions, margin=spec.margin, inconclusive=spec.inconclusive)


class _SharedComparison:
    """One procedure run's comparison, computed by the first of its regression checks that
    runs in this process and read by the others."""

    def __init__(self) -> None:
        self._comparison: EditComparison | None = None

    def get(self, proc: ProcedureRun, compiled: CompiledModel) -> EditComparison:
        if self._comparison is None:
            self._comparison = edit_comparison(proc, compiled)
        return self._comparison


@dataclass(frozen=True)
class RegressionCheck(AggregateCheck):
    """One regression check: `criterion` of `condition` after the edit vs before it."""

    condition: str
    criterion: str
    shared: _SharedComparison = field(default_factory=_SharedComparison, compare=False, repr=False)

    @property
    def label(self) -> str:
        return f"regression/{self.condition}/{self.criterion}"

    def evaluate(self, proc: ProcedureRun, compiled: CompiledModel) -> CheckResult:
        row = self.shared.get(proc, compiled).row(self.condition, self.criterion)
        return CheckResult(name=f"{self.condition} {self.criterion} after the edit", value=row.low,
                           bound=row.margin, passed=row.passed, message=row.message,
                           warning=row.message if row.verdict == "inconclusive" and row.passed else None)


def regression_checks(proc: ProcedureRun) -> list[RegressionCheck]:
    """The suite's regression checks, when there is a version at `--gate-against` to compare with."""
    if proc.previous is None:
        return []
    shared = _SharedComparison()
    return [RegressionCheck(condition, criterion, shared) for condition in proc.suite.regression_conditions
            for criterion in proc.suite.regression.criteria]
