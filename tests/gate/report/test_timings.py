"""The Timings section: report.json's `timings` read as a table per procedure, stage by stage."""

from __future__ import annotations

import re

import pytest

from gate.report import build_procedure_report, build_report, render_html
from gate.report.timings import run_figures, timing_tables

TIMINGS = {
    "recompile_cycle_s": {"travel_booking": {"data generation": 7.0, "fine-tuning": 464.0}},
    "economics": {"travel_booking": {"break_even_conversations": 15}},
    "procedures": {"travel_booking": {"conditions": {
        "subterranean": {"mean_wall_clock_s": 16.5, "total_wall_clock_s": 66.0,
                         "wall_clock_s": {"0": 16.0, "1": 17.0, "2": 16.0, "3": 17.0}},
        "orchestrated": {"mean_wall_clock_s": 27.5, "total_wall_clock_s": 110.0,
                         "wall_clock_s": {"0": 27.0, "1": 28.0, "2": 27.0, "3": 28.0}}}}},
    "total_s": 662.0,
}


def test_one_row_per_stage_with_seconds_and_share() -> None:
    (table,) = timing_tables(TIMINGS)
    assert table.procedure == "travel_booking"
    assert [(s.stage, s.seconds) for s in table.stages] == [
        ("data generation", 7.0), ("fine-tuning", 464.0),
        ("subterranean conversations", 66.0), ("orchestrated conversations", 110.0)]
    assert table.total_s == 647.0
    assert sum(s.share for s in table.stages) == pytest.approx(1.0)
    assert table.stages[1].share == pytest.approx(464 / 647)
    assert "4 conversations, 16.5 s each" in table.stages[2].detail
    assert run_figures(TIMINGS) == [("total", 662.0)]


def test_a_timed_stage_is_shown_as_it_ran_not_summed_over_its_conversations() -> None:
    conditions = TIMINGS["procedures"]["travel_booking"]["conditions"]
    timed = {**TIMINGS, "procedures": {"travel_booking": {"conditions": {
        "subterranean": {**conditions["subterranean"], "stage_s": 18.0}, "orchestrated": conditions["orchestrated"]}}}}
    (table,) = timing_tables(timed)
    rows = {s.stage: s for s in table.stages}
    assert rows["subterranean conversations"].seconds == 18.0
    assert "run concurrently and judged" in rows["subterranean conversations"].detail
    assert rows["orchestrated conversations"].seconds == 110.0          # not timed: the sum, said so
    assert "summed over" in rows["orchestrated conversations"].detail


def test_the_report_carries_each_condition_stage_time(procedure, make_results) -> None:
    results = make_results(wall_clock_s=2.0)
    report = build_procedure_report(procedure, results, n_resamples=200,
                                    stage_seconds={c: 5.0 for c in results} | {report_condition(results): None})
    timed = {c: f.get("stage_s") for c, f in report.timings["conditions"].items()}
    assert timed[report_condition(results)] is None
    assert [v for c, v in timed.items() if c != report_condition(results)] == [5.0] * (len(timed) - 1)


def report_condition(results) -> str:
    return sorted(results)[0]


def test_nothing_recorded_is_no_table() -> None:
    assert timing_tables({}) == [] and run_figures({}) == []
    assert timing_tables({"procedures": {"p": {"conditions": {}}}}) == []


def test_the_page_shows_the_table_not_the_json(procedure, make_results) -> None:
    results = make_results(wall_clock_s=2.0)
    report = build_procedure_report(procedure, results, n_resamples=200)
    data = build_report("nightly", [report], timings={"recompile_cycle_s": {procedure.name: {
        "data generation": 3.0, "fine-tuning": 12.0}}, "total_s": 40.0})
    page = render_html(data)
    section = page[page.index('<section id="timings"'):]
    assert "<pre>" not in section and '"recompile_cycle_s"' not in section
    rows = dict(re.findall(r'<tr data-stage="([^"]+)"><td>[^<]*</td><td>([\d.]+)</td>', section))
    assert rows["data generation"] == "3.0" and rows["fine-tuning"] == "12.0"
    conversations = [stage for stage in rows if stage.endswith(" conversations")]
    assert sorted(conversations) == sorted(f"{c} conversations" for c in report.conditions)
    assert "total: <strong>40.0 s</strong>" in section
