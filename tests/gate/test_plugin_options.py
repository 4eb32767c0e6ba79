"""The plugin's settings as a user gives them: options, ini keys, which wins, bad values.

Each test runs an inner pytest that only collects (`--collect-only`), so nothing compiles
or converses: the test ids say which procedures, conditions and scenarios the settings chose.
"""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import ROOT

pytest_plugins = ("pytester",)

SUITE = f"""
name: small
procedures:
  - {{procedure: {ROOT / 'procedures/travel.yaml'}, scenarios: {ROOT / 'scenarios/travel.yaml'}, n: 3, seed: 3}}
conditions: [subterranean, orchestrated, langgraph, in_context]
compile: {{recipe: tiny-cpu, n: 24}}
models: {{generator: offline, user: offline, frontier: offline, base: offline, judges: [offline]}}
thresholds:
  means:
    - {{condition: subterranean, criterion: task_success, min_mean: 3.0}}
  non_inferiority:
    - {{a: subterranean, b: orchestrated, criterion: task_success, margin: -0.5}}
"""


@pytest.fixture
def gate_dir(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".gate.yaml", **{"test_suites/small": SUITE})
    shutil.copy(ROOT / "test_suites/test_gate.py", pytester.path / "test_suites/test_gate.py")
    return pytester


def _collected(pytester: pytest.Pytester, *args: str) -> list[str]:
    result = pytester.runpytest("test_suites", "-p", "no:cacheprovider", "--collect-only", "-q", *args)
    assert result.ret == 0, result.stdout.str()
    # A test function whose cases the settings all removed is deselected, never a "NOTSET" skip.
    assert "NOTSET" not in result.stdout.str()
    return [line.split("[", 1)[1].rstrip("]") for line in result.stdout.lines if "::test_" in line]


def test_the_suite_alone_gives_every_condition_and_threshold(gate_dir: pytest.Pytester) -> None:
    ids = _collected(gate_dir)
    assert len(ids) == 4 * 3 + 2
    assert "small:travel_booking/in_context/scenario-002" in ids
    assert "small:travel_booking/non_inferiority/subterranean-vs-orchestrated/task_success" in ids


def test_options_narrow_conditions_and_scenarios_and_drop_thresholds_they_leave(
        gate_dir: pytest.Pytester) -> None:
    ids = _collected(gate_dir, "--gate-conditions", "orchestrated, langgraph", "--gate-n", "2")
    assert sorted(ids) == sorted(f"small:travel_booking/{c}/scenario-{i:03d}"
                                 for c in ("orchestrated", "langgraph") for i in range(2))


def test_a_function_left_without_cases_is_deselected_not_skipped(gate_dir: pytest.Pytester) -> None:
    result = gate_dir.runpytest("test_suites", "-p", "no:cacheprovider", "--collect-only", "-q",
                                "--gate-conditions", "langgraph")
    assert "(1 deselected)" in result.stdout.str() and "NOTSET" not in result.stdout.str()


def test_an_ini_key_applies_and_the_command_line_wins_over_it(gate_dir: pytest.Pytester) -> None:
    gate_dir.makeini("[pytest]\ngate_conditions = in_context\ngate_n = 1\n")
    assert _collected(gate_dir) == ["small:travel_booking/in_context/scenario-000"]
    assert _collected(gate_dir, "--gate-conditions", "langgraph") == ["small:travel_booking/langgraph/scenario-000"]


def test_trials_give_one_test_per_scenario_and_trial(gate_dir: pytest.Pytester) -> None:
    ids = _collected(gate_dir, "--gate-conditions", "langgraph", "--gate-n", "2", "--gate-trials", "3")
    assert sorted(ids) == sorted(f"small:travel_booking/langgraph/scenario-{i:03d}/trial-{t}"
                                 for i in range(2) for t in range(3))


@pytest.mark.parametrize(("args", "message"), [
    # The option and the value given are ours to promise; what pydantic says after them is not.
    (("--gate-n", "0"), "--gate-n '0': "),
    (("--gate-cache", "sometimes"), "--gate-cache 'sometimes': "),
    (("--gate-conditions", "subterranean,telepathy"), "--gate-conditions 'subterranean,telepathy': "),
    (("--gate-trials", "0"), "--gate-trials '0': "),
])
def test_a_bad_value_is_a_usage_error_naming_the_option(gate_dir: pytest.Pytester, args: tuple[str, ...],
                                                       message: str) -> None:
    result = gate_dir.runpytest("test_suites", "-p", "no:cacheprovider", "--collect-only", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_a_session_without_gate_tests_is_untouched(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_one():\n    assert True\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert not (pytester.path / "reports").exists()
