"""A gate run's test cases: one per conversation (procedure × condition × scenario) and
one per aggregate threshold, and what each test does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gate.against.regression_checks import regression_checks
from gate.checks import AggregateCheck, CheckResult, checks_of, conversation_problems
from gate.conversations import evaluate_condition
from gate.run import GateRun, ProcedureRun
from harness.scenarios import Scenario

if TYPE_CHECKING:
    from compile.pipeline import CompiledModel


@dataclass
class GateCase:
    """A test case of one procedure run; the gate's tests are parametrized by `test_id`."""

    run: ProcedureRun

    @property
    def procedure_key(self) -> str:
        return self.run.key


@dataclass
class GateConversation(GateCase):
    """One condition talks to the simulated user of one scenario."""

    condition: str
    scenario: Scenario

    @property
    def test_id(self) -> str:
        trial = f"/trial-{self.scenario.trial}" if self.run.suite.trials > 1 else ""
        return f"{self.run.key}/{self.condition}/scenario-{self.scenario.index:03d}{trial}"


@dataclass
class GateCheck(GateCase):
    """One aggregate threshold over its conditions' conversations, or one regression check
    of the edit since `--gate-against`."""

    check: AggregateCheck

    @property
    def test_id(self) -> str:
        return f"{self.run.key}/{self.check.label}"


def collect_cases(run: GateRun) -> list[GateConversation | GateCheck]:
    cases: list[GateConversation | GateCheck] = []
    for proc in run.procedures:
        for condition in proc.suite.conditions:
            cases.extend(GateConversation(proc, condition, s) for s in proc.trials_of(proc.scenarios))
        cases.extend(GateCheck(proc, check) for check in checks_of(proc.suite.thresholds))
        cases.extend(GateCheck(proc, check) for check in regression_checks(proc))
    return cases


def run_conversation_case(case: GateConversation, compiled: CompiledModel) -> list[str]:
    """Run (or read) the case's conversation; return its per-conversation problems."""
    # The procedure's other conditions run alongside this one's, the first time any is asked for.
    results = evaluate_condition(case.run, compiled, case.condition, alongside=case.run.suite.conditions)
    result = next(r for r in results
                  if (r.transcript.scenario_index, r.transcript.trial) == (case.scenario.index, case.scenario.trial))
    spec = case.run.suite.thresholds.per_conversation
    return conversation_problems(result, spec) if case.condition in spec.conditions else []


def run_check_case(case: GateCheck, compiled: CompiledModel) -> CheckResult:
    """Run (or read) the conversations the check needs; judge them."""
    return case.check.evaluate(case.run, compiled)
