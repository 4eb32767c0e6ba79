"""The subterra pytest plugin: gate suites become tests.

It only wires: options and ini keys, parametrization of the gate test functions from
suite files, fixtures, and writing the report at the end. The work is in
`harness.evaluate` (conversations, judges), `harness.gate` (checks) and
`harness.report` (HTML).

A gate test module (see `test_suites/test_gate.py`) defines functions that take
`gate_conversation` (one per procedure × condition × scenario) or `gate_check` (one per
threshold), plus the session-scoped `compiled_model` (from the compile plugin, `compile/plugin.py`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from harness.evaluate import GateCheck, GateConversation, GateRun, collect_cases

_RUN_KEY = pytest.StashKey["GateRun"]()

OPTIONS = [
    # (option, ini key, help)
    ("--gate-suite", "gate_suites", "gate suite files (*.gate.yaml); default: test_suites/*.gate.yaml"),
    ("--gate-conditions", "gate_conditions", "only these conditions (comma-separated)"),
    ("--gate-n", "gate_n", "evaluation scenarios per condition (overrides the suites)"),
    ("--gate-recipe", "gate_recipe", "compile recipe (overrides the suites), e.g. tiny-cpu"),
    ("--gate-generator", "gate_generator", "data-generation model, e.g. anthropic:claude-sonnet-4-5"),
    ("--gate-user-model", "gate_user_model", "user-simulator model"),
    ("--gate-frontier", "gate_frontier", "frontier model of the langgraph and in_context conditions"),
    ("--gate-judges", "gate_judges", "judge models (comma-separated)"),
    ("--gate-cache", "gate_cache", "LLM cache mode: record (default), replay, off"),
    ("--gate-report-dir", "gate_report_dir", "where reports are written (default: reports)"),
    ("--gate-against", "gate_against", "git ref: compare each procedure with its version there"),
]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("subterra", "subterra recompile gate")
    for option, ini, help_text in OPTIONS:
        group.addoption(option, dest=ini, default=None, help=help_text)
        parser.addini(ini, help=help_text, type="string", default="")


def _setting(config: pytest.Config, name: str) -> str | None:
    value = config.getoption(name) or config.getini(name)
    return value or None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gate: a subterra recompile-gate test")
    suites = _setting(config, "gate_suites")
    paths = [Path(p) for p in suites.split(",")] if suites else sorted(
        (Path(str(config.rootpath)) / "test_suites").glob("*.gate.yaml"))
    overrides = {name: _setting(config, name) for _, name, _ in OPTIONS}
    run = GateRun.from_settings(paths, overrides, root=Path(str(config.rootpath)))
    config.stash[_RUN_KEY] = run
    config.pluginmanager.register(_ReportWriter(run), "subterra-report-writer")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    run: GateRun = metafunc.config.stash[_RUN_KEY]
    for argname, kind in (("gate_conversation", GateConversation), ("gate_check", GateCheck)):
        if argname in metafunc.fixturenames:
            cases = [c for c in collect_cases(run) if isinstance(c, kind)]
            params = [pytest.param(c.procedure_key, c, id=c.test_id, marks=pytest.mark.gate) for c in cases]
            metafunc.parametrize(["compiled_model", argname], params, indirect=["compiled_model"], scope="session")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Stop before anything runs when a collected suite cannot run here (a missing API key,
    GPU or local weights), naming what is missing."""
    if not any(item.get_closest_marker("gate") for item in items):
        return
    from harness.preflight import preflight

    run: GateRun = config.stash[_RUN_KEY]
    suites = {id(p.suite): p.suite for p in run.procedures}.values()
    problems = [line for suite in suites for line in preflight(suite)]
    if problems:
        pytest.exit("cannot run the gate here:\n" + "\n".join(problems), returncode=2)


def _uncaptured(item: pytest.Item) -> contextlib.AbstractContextManager:
    """Gate tests compile (setup) and converse (call) for minutes: their progress lines reach
    the terminal instead of pytest's capture."""
    capture = item.config.pluginmanager.getplugin("capturemanager")
    if item.get_closest_marker("gate") is None or capture is None:
        return contextlib.nullcontext()
    return capture.global_and_fixture_disabled()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    with _uncaptured(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    with _uncaptured(item):
        return (yield)


@pytest.fixture(scope="session")
def gate_run(request: pytest.FixtureRequest) -> GateRun:
    return request.config.stash[_RUN_KEY]


class _ReportWriter:
    """Per-session plugin object: notes whether gate tests ran, writes reports at the end."""

    def __init__(self, run: GateRun) -> None:
        self.run = run
        self.gate_tests_ran = False

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # The xdist controller sees every worker's reports here too.
        if report.when == "call" and "gate" in report.keywords:
            self.gate_tests_ran = True

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(session.config, "workerinput") or not self.gate_tests_ran:
            return  # workers leave the report to the controller, which sees all results
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        for path in self.run.write_reports():
            if reporter is not None:
                reporter.write_line(f"subterra report: {path}")
