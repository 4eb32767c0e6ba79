"""The gate's checks: per conversation and per (procedure, condition), each with a verdict
that says what was measured, against which bound, and where it failed.

A suite's aggregate thresholds become `Check`s (`checks_of`): one class per kind of
threshold; `run` judges the results of the threshold's conditions, in their order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel

from gate.results import ConversationResult, criterion_values, scores_by_scenario
from gate.suite import (
    ActionThreshold,
    FailureThreshold,
    MeanThreshold,
    NonInferiority,
    PerConversation,
    Thresholds,
)
from harness.judges.actions import summarize_actions
from harness.judges.rubric import FAILURE_AT_OR_BELOW
from harness.stats import align_by_scenario, bootstrap_mean_difference_ci


class CheckResult(BaseModel):
    name: str
    value: float | None
    bound: float
    passed: bool
    message: str


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


class Check(ABC):
    """One aggregate threshold of a suite, over the results of its conditions."""

    kind: ClassVar[str]
    threshold: MeanThreshold | FailureThreshold | NonInferiority

    @property
    def conditions(self) -> tuple[str, ...]:
        return self.threshold.conditions

    @property
    def label(self) -> str:
        """What the check's test id says after the procedure."""
        criterion = getattr(self.threshold, "criterion", None)
        return "/".join([self.kind, "-vs-".join(self.conditions), *([criterion] if criterion else [])])

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
        t, results = self.threshold, groups[0]
        values = criterion_values(results, "task_success")
        failing = [i for i, s in sorted(scores_by_scenario(results).items())
                   if s.task_success <= FAILURE_AT_OR_BELOW]
        rate = len(failing) / len(values) if values else None
        shown = ", ".join(map(str, failing[:10]))
        return CheckResult(
            name=f"failure rate of {t.condition} <= {t.max_failure_rate:.0%}", value=rate,
            bound=t.max_failure_rate, passed=rate is not None and rate <= t.max_failure_rate,
            message=(f"{t.condition}: {len(failing)}/{len(values)} conversations with task success <= "
                     f"{FAILURE_AT_OR_BELOW} ({rate:.0%}), bound <= {t.max_failure_rate:.0%}"
                     + (f"; failing scenarios: {shown}" if failing else "")
                     if rate is not None else f"{t.condition}: no scored conversations"))


@dataclass(frozen=True)
class NonInferiorityCheck(Check):
    """Lower bound of the paired bootstrap 95% CI of mean(a) − mean(b) must exceed the margin."""

    threshold: NonInferiority
    kind: ClassVar[str] = "non_inferiority"
    seed: int = 0

    def run(self, groups: list[list[ConversationResult]]) -> CheckResult:
        t = self.threshold
        index, xa, xb = align_by_scenario(scores_by_scenario(groups[0]), scores_by_scenario(groups[1]))
        name = f"{t.a} − {t.b} on {t.criterion}: CI lower bound > {t.margin}"
        if len(index) < 2:
            return CheckResult(name=name, value=None, bound=t.margin, passed=False,
                               message=f"{t.a} vs {t.b}: only {len(index)} paired scenarios; need at least 2")
        ci = bootstrap_mean_difference_ci([s.get(t.criterion) for s in xa], [s.get(t.criterion) for s in xb],
                                          paired=True, seed=self.seed)
        return CheckResult(
            name=name, value=ci.low, bound=t.margin, passed=ci.low > t.margin,
            message=(f"{t.a} − {t.b} on {t.criterion}: Δ = {ci.estimate:+.2f}, 95% CI "
                     f"[{ci.low:+.2f}, {ci.high:+.2f}] over {len(index)} paired scenarios; "
                     f"lower bound must exceed {t.margin}"))


@dataclass(frozen=True)
class ActionCheck(Check):
    """End-state match rate and tool-call accuracy of one condition (procedures with tools)."""

    threshold: ActionThreshold
    kind: ClassVar[str] = "actions"

    def run(self, groups: list[list[ConversationResult]]) -> CheckResult:
        t = self.threshold
        verdicts = [r.actions for r in groups[0] if r.actions is not None]
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


def checks_of(thresholds: Thresholds) -> list[Check]:
    """A suite's aggregate thresholds as checks, in the suite's order (means, failure
    rates, non-inferiority, actions)."""
    return ([MeanCheck(t) for t in thresholds.means] + [FailureRateCheck(t) for t in thresholds.failure_rates]
            + [NonInferiorityCheck(t) for t in thresholds.non_inferiority]
            + [ActionCheck(t) for t in thresholds.actions])
