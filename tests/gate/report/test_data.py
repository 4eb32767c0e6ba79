"""The report's numbers: they must be the stats module's numbers for the same inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gate.report.data import build_procedure_report, build_report
from gate.report.views import json_ready
from harness.judges.llm_judge import JudgeResult
from harness.judges.rubric import CRITERIA
from harness.llm.base import Usage
from harness.llm.pricing import Price, cost, price_for
from harness.stats import (
    align_by_scenario,
    bootstrap_mean_ci,
    compare_conditions,
    failure_rate,
    holm,
    significance_stars,
)

N = 2000  # resamples: enough to check equality with stats, fast enough for a unit test


def _build(procedure, results, **kw):
    return build_procedure_report(procedure, results, n_resamples=N, **kw)


def test_means_and_cis_are_the_stats_modules(procedure, make_results):
    results = make_results()
    report = _build(procedure, results, seed=7)
    assert report.conditions == ["subterranean", "orchestrated"]   # reference first
    for cond in report.conditions:
        scores = [r.scores for r in sorted(results[cond], key=lambda r: r.transcript.scenario_index)]
        summary = report.summary(cond)
        for i, c in enumerate(CRITERIA):
            expected = bootstrap_mean_ci([s.get(c) for s in scores], n_resamples=N,
                                         seed=np.random.default_rng([7, i]))
            assert summary.means[c] == expected
    assert report.summary("subterranean").means["task_success"].estimate == pytest.approx(4.5)
    assert report.summary("orchestrated").means["task_success"].estimate == pytest.approx(3.1)
    assert report.summary("orchestrated").percent_of_reference["task_success"] == pytest.approx(100 * 3.1 / 4.5)
    assert report.summary("subterranean").percent_of_reference["task_success"] == 100.0


def test_comparison_is_reference_minus_other_paired_with_holm(procedure, make_results):
    results = make_results()
    report = _build(procedure, results)
    cmp = report.comparison("orchestrated")
    assert (cmp.label_a, cmp.label_b, cmp.paired) == ("subterranean", "orchestrated", True)
    row = cmp.row("task_success")
    assert row.delta.estimate == pytest.approx(4.5 - 3.1) and row.delta.estimate > 0
    assert row.cohens_d is not None and row.cohens_d > 0
    assert row.test.test == "wilcoxon"
    by = {c: {r.transcript.scenario_index: r.scores for r in rs} for c, rs in results.items()}
    _, a, b = align_by_scenario(by["subterranean"], by["orchestrated"])
    assert cmp == compare_conditions(a, b, paired=True, label_a="subterranean", label_b="orchestrated", n_resamples=N)
    assert row.stars == significance_stars(row.p_corrected) != ""   # 10 pairs, all A > B
    assert [r.p_corrected for r in cmp.rows] == holm([r.test.p_value for r in cmp.rows])


def test_failure_rates_and_conversation_stats(procedure, make_results):
    results = make_results()
    report = _build(procedure, results)
    ref, other = report.summary("subterranean"), report.summary("orchestrated")
    assert (ref.failure.failures, ref.failure.n) == (1, 10)
    assert other.failure == failure_rate([r.scores for r in results["orchestrated"]])
    assert other.failure.rate == pytest.approx(0.7)
    assert ref.mean_turns == 5 and other.mean_turns == pytest.approx(4.5)
    assert ref.valid_trace_share == 1.0 and other.valid_trace_share == 0.5
    assert ref.end_reasons == {"terminal": 10}
    assert ref.offline_means == {"task_success": 5.0}
    assert other.offline_means == {"task_success": 4.0}


def test_cost_per_conversation_and_ratio(procedure, make_results):
    report = _build(procedure, make_results())
    costs = {c.condition: c for c in report.costs}
    price = price_for("claude-sonnet-4-5")
    ref = cost(Usage(input_tokens=5500, output_tokens=100), price)
    routing = cost(Usage(input_tokens=200, output_tokens=10), price)
    assert costs["subterranean"].cost.total_per_conversation == pytest.approx(ref)
    assert costs["orchestrated"].cost.routing_per_conversation == pytest.approx(routing)
    assert costs["orchestrated"].ratio_to_reference == pytest.approx((ref + routing) / ref)
    assert costs["subterranean"].ratio_to_reference == pytest.approx(1.0)
    assert costs["subterranean"].user_input_tokens_per_conversation == 500   # shown, not costed


def test_condition_prices_win_and_unknown_models_are_noted(procedure, make_results):
    results = make_results()
    for r in results["subterranean"]:
        r.transcript.agent_model = "local:compiled-3b"
    unpriced = _build(procedure, results)
    sub = next(c for c in unpriced.costs if c.condition == "subterranean")
    assert sub.cost is None and "no price known" in sub.note and sub.hosting == "self_hosted"
    assert all(c.ratio_to_reference is None for c in unpriced.costs)
    priced = _build(procedure, results, condition_prices={"subterranean": Price(0.05, 0.23)})
    sub = next(c for c in priced.costs if c.condition == "subterranean")
    assert sub.cost.total_per_conversation == pytest.approx(cost(Usage(input_tokens=5500, output_tokens=100),
                                                                 Price(0.05, 0.23)))


def test_offline_flag(procedure, make_results):
    offline = _build(procedure, make_results(offline=True))
    assert offline.offline and offline.offline_models == ["offline"]
    assert build_report("r", [offline]).offline
    online = _build(procedure, make_results())
    assert not online.offline and online.offline_models == []
    assert not build_report("r", [online], models={"judge": "claude-sonnet-4-5"}).offline
    assert build_report("r", [online], models={"user": "offline:sim"}).offline
    free = {c.condition: c for c in offline.costs}
    assert free["subterranean"].cost.total_per_conversation == 0.0
    assert free["orchestrated"].ratio_to_reference is None      # a ratio to $0 is undefined


def test_trace_pass_rates_per_node_and_edge(procedure, make_results):
    report = _build(procedure, make_results())
    trace = {t.condition: t for t in report.trace}["orchestrated"]
    nodes = {n.node: n for n in trace.nodes}
    edges = {(e.source, e.target): e for e in trace.edges}
    assert list(nodes) == list(procedure.nodes)
    # odd scenarios jump greet -> offer: offer's turn there is off-chart
    assert (nodes["offer"].visits, nodes["offer"].passes, nodes["offer"].pass_rate) == (10, 5, 0.5)
    assert nodes["request"].coverage == 0.5 and nodes["request"].pass_rate == 1.0
    assert nodes["goodbye"].pass_rate is None and nodes["goodbye"].coverage == 0.0
    assert edges[("greet", "request")].pass_rate == 1.0
    assert edges[("offer", "decide")].conversations == 10 and edges[("offer", "decide")].pass_rate == 0.5
    assert edges[("decide", "goodbye")].pass_rate is None
    assert trace.off_chart == {"greet->offer": 5}


def test_judge_agreement_needs_two_scoring_judges(procedure, make_results):
    assert _build(procedure, make_results()).agreement == []
    report = _build(procedure, make_results(second_judge="gpt-4.1"))
    assert report.judges == ["claude-sonnet-4-5", "gpt-4.1"]
    (view,) = report.agreement
    assert (view.report.judge_a, view.report.judge_b) == ("claude-sonnet-4-5", "gpt-4.1")
    assert len(view.conversations) == 20
    ts = next(c for c in view.report.criteria if c.criterion == "task_success")
    assert ts.exact_agreement == 1.0 and ts.n == 20


def test_judge_failures_are_counted_not_scored(procedure, make_results):
    results = make_results()
    results["orchestrated"][0].judges[:] = [JudgeResult(judge="claude-sonnet-4-5", scores=None, failure="bad")]
    summary = _build(procedure, results).summary("orchestrated")
    assert (summary.n, summary.n_scored, summary.judge_failures) == (10, 9, 1)


def test_missing_reference_is_noted(procedure, make_results):
    results = make_results()
    del results["subterranean"]
    report = _build(procedure, results)
    assert report.comparisons == [] and report.notes and "subterranean" in report.notes[0]
    assert report.summary("orchestrated").percent_of_reference == {}


def test_transcripts_keep_trace_and_scores(procedure, make_results):
    report = _build(procedure, make_results())
    assert len(report.transcripts) == 20
    t = next(t for t in report.transcripts if t.condition == "orchestrated" and t.scenario_index == 1)
    assert not t.trace_valid and t.off_chart_steps == [(1, "greet", "offer")]
    assert [turn.on_chart for turn in t.turns] == [True, False, True, True]
    assert t.turns[1].node == "offer" and t.scores.task_success == 4


def _dump(data) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)


def test_json_is_deterministic_and_timings_are_separate(procedure, make_results):
    a = build_report("r", [_build(procedure, make_results(wall_clock_s=1.0))], timings={"total_s": 12.5})
    b = build_report("r", [_build(procedure, make_results(wall_clock_s=9.0))], timings={"total_s": 99.0})
    ja, jb = a.json_data(), b.json_data()
    assert ja["timings"] != jb["timings"]
    assert ja["timings"]["procedures"]["mini_booking"]["conditions"]["subterranean"]["mean_wall_clock_s"] == 1.0
    ja.pop("timings"), jb.pop("timings")
    assert _dump(ja) == _dump(jb)
    assert "wall_clock" not in _dump(ja)
    again = build_report("r", [_build(procedure, make_results(wall_clock_s=1.0))], timings={"total_s": 12.5})
    assert _dump(again.json_data()) == _dump(a.json_data())


def test_json_ready_rounds_floats():
    assert json_ready({"x": [0.1 + 0.2, -0.0], "y": (1, 2.0000000001)}) == {"x": [0.3, 0.0], "y": [1, 2.0]}


def test_judges_answered_by_a_stand_in_are_said_plainly(procedure, make_results):
    results = make_results(second_judge="gpt-4.1")
    assert not any("stand-in" in n for n in _build(procedure, results).notes)
    for rs in results.values():
        for r in rs:
            r.judges[:] = [j.model_copy(update={"model": "local:smollm2-135m"}) for j in r.judges]
    (note,) = [n for n in _build(procedure, results).notes if "stand-in" in n]
    assert note.startswith("judges claude-sonnet-4-5, gpt-4.1 were answered by local:smollm2-135m, a stand-in")
    assert note.endswith("their agreement measures nothing.")
