"""`--gate-against` without running anything: which scenarios, which checks, which suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.against.regression_checks import regression_checks
from gate.cases import GateCheck, collect_cases
from gate.run import GateRun, ProcedureRun
from gate.settings import GateSettings
from gate.suite import load_suite
from harness.errors import SpecErrors
from tests.conftest import git

pytest_plugins = ("pytester",)


def _edit_handoff(repo: Path) -> None:
    path = repo / "procedures/travel.yaml"
    text = path.read_text()
    start = text.index("  handoff:")
    prompt = text.index("    prompt:", start)
    path.write_text(text[:prompt] + "    prompt: Apologise for the wait, then hand over to a colleague.\n"
                    + text[text.index("\n    ", prompt + 12):])


def _run(repo: Path, against: str | None = "HEAD") -> ProcedureRun:
    settings = GateSettings(suites=[repo / "edits.gate.yaml"], against=against)
    (proc,) = GateRun(settings, repo).procedures
    return proc


def test_the_edit_gets_k_scenarios_and_the_version_at_ref_the_same_indices(travel_repo: Path) -> None:
    _edit_handoff(travel_repo)
    proc = _run(travel_repo)
    assert [s.index for s in proc.base_scenarios] == list(range(6))
    through = [s for s in proc.scenarios if "handoff" in s.path]
    assert len(through) >= 2 and proc.edit_scenarios                # the base set had fewer than 2
    assert [s.index for s in proc.edit_scenarios] == list(range(6, 6 + len(proc.edit_scenarios)))
    before = proc.before
    assert before.at_ref.ref == "HEAD" and before.procedure != proc.procedure
    assert [s.index for s in before.scenarios] == [s.index for s in proc.scenarios]   # a prompt edit: same paths
    assert [s.path for s in before.scenarios] == [s.path for s in proc.scenarios]
    # Results: the base set where a later --against finds them, the edit's own apart.
    (base, _), (extra, group) = proc.result_groups()
    assert base.root == proc.results.root and extra.root.parent == base.root and group == proc.edit_scenarios
    assert before.results.root.name == before.fingerprint[:16]


def test_one_regression_check_per_condition_and_criterion_only_with_a_ref(travel_repo: Path) -> None:
    _edit_handoff(travel_repo)
    proc = _run(travel_repo)
    checks = regression_checks(proc)
    assert [c.label for c in checks] == [f"regression/{c}/{k}" for c in ("orchestrated", "in_context")
                                         for k in ("task_success", "information_accuracy")]
    ids = [c.test_id for c in collect_cases(proc_run_of(travel_repo)) if isinstance(c, GateCheck)]
    assert "edits:travel_booking/regression/in_context/task_success" in ids
    assert regression_checks(_run(travel_repo, None)) == []


def proc_run_of(repo: Path) -> GateRun:
    return GateRun(GateSettings(suites=[repo / "edits.gate.yaml"], against="HEAD"), repo)


def test_the_version_at_ref_compiles_with_the_suite_as_it_was_there(travel_repo: Path) -> None:
    suite = travel_repo / "edits.gate.yaml"
    suite.write_text(suite.read_text().replace("compile: {recipe: tiny-cpu, n: 24}",
                                               "compile: {recipe: tiny-cpu, n: 30}"))
    _edit_handoff(travel_repo)
    proc = _run(travel_repo)
    assert proc.suite.compile.n == 30 and proc.before.suite.compile.n == 24
    git(travel_repo, "add", ".")
    git(travel_repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "v2")
    assert _run(travel_repo, "HEAD~1").before.fingerprint != _run(travel_repo, None).fingerprint


def test_the_regression_block_is_checked_and_narrowed_with_the_conditions(travel_repo: Path) -> None:
    suite = travel_repo / "edits.gate.yaml"
    suite.write_text(suite.read_text() + "regression: {margin: -0.5, conditions: [subterranean]}\n")
    with pytest.raises(SpecErrors, match="subterranean"):
        load_suite(suite)
    suite.write_text(suite.read_text().replace("conditions: [subterranean]}", "conditions: [in_context], k: 1}"))
    loaded = load_suite(suite)
    assert loaded.regression.margin == -0.5 and loaded.regression_conditions == ["in_context"]
    assert GateSettings(conditions=["orchestrated"]).apply(loaded).regression_conditions == ["orchestrated"]
    suite.write_text(suite.read_text().replace("margin: -0.5", "margin: 0.5"))
    with pytest.raises(SpecErrors, match="margin"):
        load_suite(suite)


def test_an_unknown_ref_is_a_usage_error_naming_the_option(pytester: pytest.Pytester, travel_repo: Path) -> None:
    import shutil

    from tests.conftest import ROOT

    shutil.copytree(travel_repo, pytester.path, dirs_exist_ok=True)
    shutil.copy(ROOT / "test_suites/test_gate.py", pytester.path / "test_gate.py")
    result = pytester.runpytest_subprocess("test_gate.py", "--collect-only", "-q", "-p", "no:cacheprovider",
                                           "--gate-suite", "edits.gate.yaml", "--gate-against", "no-such-ref")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--gate-against: git cannot resolve 'no-such-ref'" in result.stderr.str()
