"""The report, changes.md and the check's message say the same words for a verdict."""

from __future__ import annotations

from gate.against.comparison import Version, compare_versions
from gate.report.changes import changes_markdown
from gate.report.data import build_procedure_report, build_report
from gate.report.html import render_html
from gate.verdicts import VERDICT_LABELS
from harness.scenarios import Scenario
from tests.gate.report.conftest import ON_CHART, make_result


def _version(procedure, tasks):
    scenarios = [Scenario(index=i, procedure=procedure.name, variables={}, persona={}, path=tuple(ON_CHART), seed=1)
                 for i in range(len(tasks))]
    return Version(procedure=procedure, scenarios=scenarios,
                   results={"subterranean": [make_result(procedure, "subterranean", i, t, nodes=ON_CHART)
                                             for i, t in enumerate(tasks)]})


def test_an_unchanged_mean_on_few_scenarios_is_inconclusive_everywhere_and_never_regressed(procedure) -> None:
    changes = compare_versions("HEAD", _version(procedure, [5, 4, 5, 5, 4, 5]), _version(procedure, [4, 5, 5, 4, 5, 5]),
                               criteria=["task_success"], conditions=["subterranean"], margin=-0.25)
    (row,) = changes.criteria
    assert row.delta == 0 and row.verdict == "inconclusive" and row.passed
    data = build_report("run", [build_procedure_report(procedure, {"subterranean": _version(
        procedure, [4, 5, 5, 4, 5, 5]).results["subterranean"]}, changes=changes, n_resamples=200)])
    html, markdown = render_html(data), changes_markdown(data)
    label = VERDICT_LABELS["inconclusive"]
    assert label in html and label in markdown and "inconclusive after the edit" in row.message
    assert "regressed" not in markdown.split("Verdicts:")[0] and VERDICT_LABELS["regressed"] not in html
    assert f"≈ {row.needed} scenarios would decide" in html and f"≈ {row.needed} scenarios would decide" in markdown
    assert html.index('class="inconclusive-banner"') < html.index('<table class="before-after">')
    assert "1 inconclusive** (do not fail the gate)" in markdown
