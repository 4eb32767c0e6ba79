"""The gate's checks: per conversation and per (procedure, condition), each with a verdict
that says what was measured, against which bound, and where it failed.

Every aggregate check of a procedure run is an `AggregateCheck`: its test id's `label`, and
`evaluate`, which runs (or reads) the conversations it needs and judges them. A suite's
thresholds become `Check`s (`checks_of`): one class per kind of threshold; `run` judges the
results of the threshold's conditions, in their order. The regression checks of `--against`
are the other kind (`gate.against.regression_checks`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel

from gate.conversations import evaluate_condition
from gate.result_store import ConversationResult, criterion_values, scores_by_trial
from gate.suite import (
    ActionThreshold,
    FailureThreshold,
    MeanThreshold,
    NonInferiority,
    PassKThreshold,
    PerConversation,
    Thresholds,
)
from harness.judges.actions import summarize_actions
from harness.judges.rubric import FAILURE_AT_OR_BELOW
from harness.reliability import pass_hat_k
from harness.stats import cluster_bootstrap_ci

if TYPE_CHECKING:
    from compile.pipeline import CompiledModel
    from gate.run import ProcedureRun


class CheckResult(BaseModel):
    name: str
    value: float | None
    bound: float
    passed: bool
    message: str
    # Said loudly even when the check passes (an inconclusive regression check, listed faults).
    warning: str | None = None


def _quote(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[:limit] + "…")


def conversation_problems(result: ConversationResult, spec: PerConversation) -> list[str]:
    """Why one conversation fails the per-conversation checks (empty = passes)."""
    t, v = result.transcript, result.verdict
    where = f"{t.procedure}/{t.condition} scenario {t.scenario_index}"
    problems = []
    if spec.terminal_reached and v.terminal is None:
        last = v.nodes[-1] if v.nodes else "nothing"
        problems.append(f"{where}: no terminal reached (trace ends at '{last}', end reason {t.end_reason})")
    if spec.valid_trace and v.off_chart_steps:
        steps = ", ".join(f"turn {i}: {a}->{b}" for i, a, b in v.off_chart_steps[:3])
        problems.append(f"{where}: trace leaves the flowchart ({steps})")
    if spec.valid_trace and v.unrecognised_turns:
        shown = ", ".join(f"turn {i}: {_quote(t.turns[i].text)}" for i in v.unrecognised_turns[:3])
        problems.append(f"{where}: {len(v.unrecognised_turns)} agent turns match nothing the procedure says ({shown})")
    failed_judges = [j for j in result.judges if j.scores is None]
    for j in failed_judges:
        problems.append(f"{where}: judge {j.judge} failed: {j.failure}")
    return problems


class AggregateCheck(ABC):
    """One check over many conversations of a procedure run, a test of its own."""

    @property
    @abstractmethod
    def label(self) -> str:
        """What the check's test id says after the procedure."""

    @abstractmethod
    def evaluate(self, proc: ProcedureRun, compiled: CompiledModel) -> CheckResult:
        """Run (or read) the conversations the check needs, and judge them."""


class Check(AggregateCheck):
    """One aggregate threshold of a suite, over the results of its conditions."""

    kind: ClassVar[str]
    threshold: MeanThreshold | FailureThreshold | NonInferiority | PassKThreshold

    @property
    def conditions(self) -> tuple[str, ...]:
        return self.threshold.conditions

    @property
    def label(self) -> str:
        """What the check's test id says after the procedure."""
        criterion = getattr(self.threshold, "criterion", None)
        return "/".join([self.kind, "-vs-".join(self.conditions), *([criterion] if criterion else [])])

    def evaluate(self, proc: ProcedureRun, compiled: CompiledModel) -> CheckResult:
        return self.run([evaluate_condition(proc, compiled, c, alongside=self.conditions) for c in self.conditions])

    @abstractmethod
    def run(self, groups: list[list[ConversationResult]]) -> CheckResult:
        """Judge the results of `conditions`, one list per condition, in that order."""


@dataclass(frozen=True)
class MeanCheck(Check):
    threshold: MeanThreshold
    kind: ClassVar[str] = "mean"

    def run(self, groups: list[list[ConversationResult]]) -> CheckResult:
        t = self.threshold
        values = criterion_values(groups[0], t.criterion)
        mean = sum(values) / len(values) if values else None
        return CheckResult(
            name=f"mean {t.criterion} of {t.condition} >= {t.min_mean}", value=mean, bound=t.min_mean,
            passed=mean is not None and mean >= t.min_mean,
            message=(f"{t.condition}: mean {t.criterion} = {mean:.2f} over {len(values)} scenarios, "
                     f"bound >= {t.min_mean}" if mean is not None else f"{t.condition}: no scored conversations"))


@dataclass(frozen=True)
class FailureRateCheck(Check):
    threshold: FailureThreshold
    kind: ClassVar[str] = "failure_rate"

    def run(self, groups: list[list[ConversationResult]]) -> CheckResult:
        """The agent's failure rate: conversations a simulated-user fault spoiled are counted
        apart (listed in the message, never in the rate)."""
        t = self.threshold
        spoiled = sorted((r.transcript.scenario_index, r.transcript.trial) for r in groups[0] if r.simulator_faults)
        results = [r for r in groups[0] if not r.simulator_faults]
        values = criterion_values(results, "task_success")
        failing = [k for k, s in sorted(scores_by_trial(results).items()) if s.task_success <= FAILURE_AT_OR_BELOW]
        rate = len(failing) / len(values) if values else None
        shown = ", ".join(map(conversation_key, failing[:10]))
        apart = (f"; {len(spoiled)} conversation{'' if len(spoiled) == 1 else 's'} with a simulated-user fault "
                 f"counted apart: {', '.join(map(conversation_key, spoiled[:10]))}" if spoiled else "")
        return CheckResult(
            name=f"failure rate of {t.condition} <= {t.max_failure_rate:.0%}", value=rate,
            bound=t.max_failure_rate, passed=rate is not None and rate <= t.max_failure_rate,
            message=(f"{t.condition}: {len(failing)}/{len(values)} conversations with task success <= "
                     f"{FAILURE_AT_OR_BELOW} ({rate:.0%}), bound <= {t.max_failure_rate:.0%}"
                     + (f"; failing scenarios: {shown}" if failing else "") + apart
                     if rate is not None else f"{t.condition}: no scored conversations{apart}"),
            warning=apart.lstrip("; ") or None)


@dataclass(frozen=True)
class NonInferiorityCheck(Check):
    """Lower bound of the paired bootstrap 95% CI of mean(a) − mean(b) must exceed the margin."""

    threshold: NonInferiority
    kind: ClassVar[str] = "non_inferiority"
    seed: int = 0

    def run(self, groups: list[list[ConversationResult]]) -> CheckResult:
        t = self.threshold
        sa, sb = scores_by_trial(groups[0]), scores_by_trial(groups[1])
        keys = sorted(set(sa) & set(sb))            # paired by (scenario, trial)
        scenarios = len({i for i, _ in keys})
        name = f"{t.a} − {t.b} on {t.criterion}: CI lower bound > {t.margin}"
        if scenarios < 2:
            return CheckResult(name=name, value=None, bound=t.margin, passed=False,
                               message=f"{t.a} vs {t.b}: only {scenarios} paired scenarios; need at least 2")
        # Clustered by scenario: trials of one scenario are not independent.
        ci = cluster_bootstrap_ci([sa[k].get(t.criterion) - sb[k].get(t.criterion) for k in keys],
                                  [i for i, _ in keys], seed=self.seed)
        trials = f" ({len(keys)} paired trials)" if len(keys) > scenarios else ""
        return CheckResult(
            name=name, value=ci.low, bound=t.margin, passed=ci.low > t.margin,
            message=(f"{t.a} − {t.b} on {t.criterion}: Δ = {ci.estimate:+.2f}, 95% CI "
                     f"[{ci.low:+.2f}, {ci.high:+.2f}] over {scenarios} paired scenarios{trials}; "
                     f"lower bound must exceed {t.margin}"))


@dataclass(frozen=True)
class ActionCheck(Check):
    """End-state match rate and tool-call accuracy of one condition (procedures with tools)."""

    threshold: ActionThreshold
    kind: ClassVar[str] = "actions"

    def run(self, groups: list[list[ConversationResult]]) -> CheckResult:
        t = self.threshold
        # A conversation the simulated customer spoiled says nothing about the agent's actions.
        verdicts = [r.actions for r in groups[0] if r.actions is not None and not r.simulator_faults]
        summary = summarize_actions(t.condition, verdicts)
        bounds = [("end-state match", summary.end_state_match_rate, t.min_end_state_match),
                  ("tool-call accuracy", summary.tool_call_accuracy, t.min_tool_call_accuracy)]
        bounds = [(label, value, bound) for label, value, bound in bounds if bound is not None]
        name = f"actions of {t.condition}: " + ", ".join(f"{label} >= {bound:.0%}" for label, _, bound in bounds)
        if not verdicts:
            return CheckResult(name=name, value=None, bound=0.0, passed=False,
                               message=f"{t.condition}: no conversation has a backend (does the procedure have tools?)")
        failing = [label for label, value, bound in bounds if value is None or value < bound]
        parts = [f"{label} {value:.0%}" if value is not None else f"{label} n/a" for label, value, _ in bounds]
        first = bounds[0] if bounds else ("", None, None)
        return CheckResult(
            name=name, value=first[1], bound=first[2] or 0.0, passed=not failing,
            message=(f"{t.condition}: " + ", ".join(parts) + f" over {summary.n} conversations "
                     f"({summary.tool_steps} tool steps)" + (f"; below bound: {', '.join(failing)}" if failing else "")))


def conversation_key(key: tuple[int, int]) -> str:
    """`7` for scenario 7's only trial, `7/t2` for its trial 2."""
    return str(key[0]) if key[1] == 0 else f"{key[0]}/t{key[1]}"


def trial_outcomes(results: list[ConversationResult]) -> dict[int, tuple[int, int]]:
    """Scenario → (trials passed, trials) under the gate's pass criterion; conversations a
    simulated-user fault spoiled are left out (they are the simulator's, not the agent's)."""
    out: dict[int, tuple[int, int]] = {}
    for r in results:
        if r.simulator_faults:
            continue
        c, n = out.get(r.transcript.scenario_index, (0, 0))
        out[r.transcript.scenario_index] = (c + r.passed, n + 1)
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class PassKCheck(Check):
    """pass^k of a condition (tau-bench's estimator over its scenarios' trials) must reach `min`."""

    threshold: PassKThreshold
    kind: ClassVar[str] = "pass_k"

    @property
    def label(self) -> str:
        return f"pass_k/{self.threshold.condition}/k{self.threshold.k}"

    def run(self, groups: list[list[ConversationResult]]) -> CheckResult:
        t = self.threshold
        outcomes = trial_outcomes(groups[0])
        value = pass_hat_k(outcomes, t.k)
        name = f"pass^{t.k} of {t.condition} >= {t.min}"
        if value is None:
            most = max((n for _, n in outcomes.values()), default=0)
            return CheckResult(name=name, value=None, bound=t.min, passed=False,
                               message=f"{t.condition}: pass^{t.k} needs {t.k} trials per scenario, found at most "
                                       f"{most} (set the suite's trials, or --trials)")
        return CheckResult(name=name, value=value, bound=t.min, passed=value >= t.min,
                           message=f"{t.condition}: pass^{t.k} = {value:.2f} over {len(outcomes)} scenarios, "
                                   f"bound >= {t.min}")


def checks_of(thresholds: Thresholds) -> list[Check]:
    """A suite's aggregate thresholds as checks, in the suite's order (means, failure
    rates, non-inferiority, actions)."""
    return ([MeanCheck(t) for t in thresholds.means] + [FailureRateCheck(t) for t in thresholds.failure_rates]
            + [NonInferiorityCheck(t) for t in thresholds.non_inferiority] + [PassKCheck(t) for t in thresholds.pass_k]
            + [ActionCheck(t) for t in thresholds.actions])
