"""The report's reliability section: pass^k per condition in report.json, the pass^k plot,
flaky scenarios linked to their transcripts, simulated-user faults listed apart."""

from __future__ import annotations

import json
import re

from gate.checks import PassKCheck
from gate.report.data import build_procedure_report, build_report
from gate.report.html import render_html, write_report
from gate.report.svg import pass_k_chart
from gate.suite import PassKThreshold
from harness.scenarios import Scenario
from harness.simulator_faults import SimulatorFault
from tests.gate.report.conftest import ON_CHART, SKIPPING, make_result

# scenario -> task success per trial (ON_CHART paths, so task >= 4 passes)
TRIALS = {0: [5, 5, 5], 1: [5, 2, 4], 2: [2, 2, 2], 3: [4, 5, 1]}


def _trial_results(procedure, condition="subterranean", fault_at=None):
    out = []
    for i, tasks in TRIALS.items():
        for t, task in enumerate(tasks):
            r = make_result(procedure, condition, i, task, nodes=ON_CHART)
            r = r.model_copy(update={"transcript": r.transcript.model_copy(update={"trial": t})})
            if (i, t) == fault_at:
                r = r.model_copy(update={"simulator_faults": [SimulatorFault(kind="ended_early", turn=None,
                                                                              detail="left after 1 of 3 steps")]})
            out.append(r)
    return out


def _scenarios():
    return [Scenario(index=i, procedure="mini", variables={}, persona={}, path=tuple(ON_CHART), seed=1)
            for i in TRIALS]


def test_report_json_has_pass_k_per_condition_and_it_never_rises(procedure, tmp_path) -> None:
    results = {"subterranean": _trial_results(procedure), "orchestrated": _trial_results(procedure, "orchestrated")}
    report = build_procedure_report(procedure, results, scenarios=_scenarios(), n_resamples=200)
    write_report(build_report("run", [report]), tmp_path)
    data = json.loads((tmp_path / "report.json").read_text())
    for summary in data["procedures"][0]["summaries"]:
        assert set(summary["pass_k"]) == {"1", "2", "3"} and summary["trials"] == 3
        k = summary["pass_k"]
        assert k["1"] == round(7 / 12, 6) and k["3"] == 0.25 and k["1"] >= k["2"] >= k["3"]
    rel = data["procedures"][0]["reliability"][0]
    assert [f["scenario_index"] for f in rel["flaky"]] == [1, 3]
    assert rel["by_path"][0]["scenarios"] == 4 and {g["key"] for g in rel["by_node"]} == set(ON_CHART)


def test_the_html_shows_the_plot_and_links_flaky_scenarios_to_their_transcripts(procedure) -> None:
    results = {"subterranean": _trial_results(procedure, fault_at=(2, 1))}
    html = render_html(build_report("run", [build_procedure_report(procedure, results, scenarios=_scenarios(),
                                                                    n_resamples=200)]))
    assert '<svg class="plot-pass-k"' in html and html.count('class="point"') == 3
    links = re.findall(r'<a href="#(t-[^"]+)">trial \d</a>', html)
    assert "t-mini_booking-subterranean-1-0" in links and all(f'id="{a}"' in html for a in links)
    assert "scenario 2, trial 1</a>: <strong>ended_early</strong>" in html


def test_a_simulated_user_fault_is_left_out_of_pass_k_and_counted_apart(procedure) -> None:
    results = _trial_results(procedure, fault_at=(3, 2))      # scenario 3's failing trial was the simulator's
    report = build_procedure_report(procedure, {"subterranean": results}, scenarios=_scenarios(), n_resamples=200)
    rel = report.reliability[0]
    assert [f.scenario_index for f in rel.flaky] == [1] and report.summaries[0].simulator_faults == 1
    assert [f.kind for f in rel.simulator_faults] == ["ended_early"]
    assert report.summaries[0].failure.n == 11           # the agent's failure rate leaves it out


def test_the_pass_k_threshold(procedure) -> None:
    results = _trial_results(procedure)
    ok = PassKCheck(PassKThreshold(condition="subterranean", k=3, min=0.25)).run([results])
    assert ok.passed and ok.message == "subterranean: pass^3 = 0.25 over 4 scenarios, bound >= 0.25"
    low = PassKCheck(PassKThreshold(condition="subterranean", k=2, min=0.5)).run([results])
    assert not low.passed and low.value is not None and low.value < 0.5
    too_many = PassKCheck(PassKThreshold(condition="subterranean", k=5, min=0.1)).run([results])
    assert not too_many.passed and "needs 5 trials per scenario, found at most 3" in too_many.message


def test_the_plot_is_deterministic_and_escapes_names() -> None:
    svg = pass_k_chart([("a<b", {1: 0.5, 2: 0.25}), ("empty", {})])
    assert svg == pass_k_chart([("a<b", {1: 0.5, 2: 0.25}), ("empty", {})])
    assert "a&lt;b" in svg and 'data-pass-k="0.2500"' in svg and 'data-condition="empty"' not in svg


def test_one_trial_reports_pass_1_only(procedure) -> None:
    results = [make_result(procedure, "subterranean", i, 5, nodes=ON_CHART if i else SKIPPING) for i in range(4)]
    report = build_procedure_report(procedure, {"subterranean": results}, n_resamples=200)
    assert report.summaries[0].pass_k == {1: 0.75} and report.reliability[0].flaky == []
