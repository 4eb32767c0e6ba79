"""The recompile gate as tests. The subterra plugin parametrizes these from the gate
suites: one `test_conversation` per procedure × condition × scenario, one `test_threshold`
per aggregate threshold of a suite. `subterra gate` runs this module when no
`test_gate.py` sits beside the suites; `test_suites/test_gate.py` imports it."""

import warnings

import pytest

from gate.cases import run_check_case, run_conversation_case


class GateWarning(UserWarning):
    """A passing gate check that still wants reading (an inconclusive regression check)."""


def test_conversation(compiled_model, gate_conversation):
    problems = run_conversation_case(gate_conversation, compiled_model)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def test_threshold(compiled_model, gate_check):
    result = run_check_case(gate_check, compiled_model)
    if result.warning:
        warnings.warn(GateWarning(result.warning), stacklevel=1)
    if not result.passed:
        pytest.fail(result.message, pytrace=False)
