"""The subterra pytest plugin: gate suites become tests.

It only wires: options and ini keys (`gate.settings`), parametrization of the gate test
functions from suite files (`gate.cases`), fixtures, and writing the reports at the end
(`gate.report`). Importing it stays cheap: the conditions, models and statistics load
when the first gate test runs.

A gate test module (see `test_suites/test_gate.py`) defines functions that take
`gate_conversation` (one per procedure × condition × scenario) or `gate_check` (one per
threshold), plus the session-scoped `compiled_model`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gate.run import GateRun
from gate.settings import GateSettings

if TYPE_CHECKING:
    from compile.pipeline import CompiledModel

_RUN_KEY = pytest.StashKey["GateRun"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("subterra", "subterra recompile gate")
    for name, field in GateSettings.model_fields.items():
        ini = GateSettings.ini(name)
        group.addoption(GateSettings.option(name), dest=ini, default=None, help=field.description)
        parser.addini(ini, help=field.description or "", type="string", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gate: a subterra recompile-gate test")
    raw = {name: config.getoption(GateSettings.ini(name)) or config.getini(GateSettings.ini(name))
           for name in GateSettings.model_fields}
    try:
        settings = GateSettings.parse(raw)
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None
    run = GateRun(settings, root=Path(str(config.rootpath)))
    if settings.against:
        try:
            run.procedures  # noqa: B018 - reads each suite at the ref: a ref git cannot resolve fails here
        except ValueError as e:
            raise pytest.UsageError(f"{GateSettings.option('against')}: {e}") from None
    config.stash[_RUN_KEY] = run
    config.pluginmanager.register(_ReportWriter(run), "subterra-report-writer")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if not {"gate_conversation", "gate_check"} & set(metafunc.fixturenames):
        return
    from gate.cases import (  # conditions, judges: only now
        GateCheck,
        GateConversation,
        collect_cases,
    )
    from harness.errors import SpecErrors

    run: GateRun = metafunc.config.stash[_RUN_KEY]
    try:
        all_cases = collect_cases(run)
    except SpecErrors as e:     # a broken suite: its lines, not a traceback (pytest shows a CollectError's text)
        raise pytest.Collector.CollectError(str(e)) from None
    for argname, kind in (("gate_conversation", GateConversation), ("gate_check", GateCheck)):
        if argname in metafunc.fixturenames:
            cases = [c for c in all_cases if isinstance(c, kind)]
            params = [pytest.param(c.procedure_key, c, id=c.test_id, marks=pytest.mark.gate) for c in cases]
            metafunc.parametrize(["compiled_model", argname], params, indirect=["compiled_model"], scope="session")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Stop before anything runs when a collected suite cannot run here (a missing API key,
    GPU or local weights), naming what is missing."""
    # A gate function with no cases (a suite without aggregate thresholds) is not a test: pytest
    # would list it as a skipped `[NOTSET]` item. Every real case carries the `gate` mark.
    empty = [item for item in items if item.get_closest_marker("gate") is None
             and {"gate_conversation", "gate_check"} & set(getattr(item, "fixturenames", ()))]
    if empty:
        config.hook.pytest_deselected(items=empty)
        items[:] = [item for item in items if item not in empty]
    if not any(item.get_closest_marker("gate") for item in items):
        return
    from gate.preflight import preflight

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


@pytest.fixture(scope="session")
def compiled_model(request: pytest.FixtureRequest, gate_run: GateRun) -> CompiledModel:
    """The compiled model of one gate-suite procedure, parametrized (indirectly) by
    `pytest_generate_tests` with its procedure key. Compiling goes through the
    content-addressed store under a file lock, so with xdist one worker compiles and the
    others wait and load the same checkpoint; its progress reaches the terminal (above)."""
    return gate_run.compiled(request.param)


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
        from gate.report.runs import write_reports

        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        for path in write_reports(self.run):
            if reporter is not None:
                reporter.write_line(f"subterra report: {path}")
