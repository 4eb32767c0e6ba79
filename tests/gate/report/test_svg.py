"""Inline SVG figures: well-formed, findable by class, drawn from the report's numbers."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gate.report.data import build_procedure_report
from gate.report.svg import (
    UNSEEN,
    cost_chart,
    flowchart_layout,
    flowchart_svg,
    pass_colour,
    scores_chart,
)
from harness.judges.rubric import CRITERIA
from harness.procedure import Procedure

NS = {"s": "http://www.w3.org/2000/svg"}


@pytest.fixture
def report(procedure, make_results):
    return build_procedure_report(procedure, make_results(), n_resamples=500)


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)   # raises on malformed XML (unescaped text, broken tags)


def test_scores_chart_has_a_bar_and_whisker_per_condition_and_criterion(report):
    svg = scores_chart(report.summaries)
    root = _parse(svg)
    assert root.get("class") == "plot-scores"
    bars = root.findall(".//s:g[@class='bar']", NS)
    assert len(bars) == len(CRITERIA) * 2
    got = {(b.get("data-condition"), b.get("data-criterion")): float(b.get("data-mean")) for b in bars}
    assert got[("subterranean", "task_success")] == pytest.approx(4.5)
    assert got[("orchestrated", "task_success")] == pytest.approx(3.1)
    for b in bars:
        ci = b.find("s:line[@class='ci']", NS)
        rect = b.find("s:rect", NS)
        # the whisker spans the bar's top (the mean lies inside its CI)
        assert float(ci.get("y2")) <= float(rect.get("y")) <= float(ci.get("y1"))
    # a taller bar for the higher mean
    heights = {(b.get("data-condition"), b.get("data-criterion")): float(b.find("s:rect", NS).get("height"))
               for b in bars}
    assert heights[("subterranean", "task_success")] > heights[("orchestrated", "task_success")]


def test_cost_chart_is_log_scaled(report):
    base = report.costs[0]
    tenfold = base.model_copy(update={"condition": "dear", "cost": base.cost.model_copy(update={
        "generation_per_conversation": base.cost.generation_per_conversation * 10,
        "routing_per_conversation": base.cost.routing_per_conversation * 10})})
    free = base.model_copy(update={"condition": "free", "cost": base.cost.model_copy(update={
        "generation_per_conversation": 0.0, "routing_per_conversation": 0.0})})
    root = _parse(cost_chart([base, tenfold, free]))
    assert root.get("class") == "plot-cost"
    widths = {g.get("data-condition"): g.find("s:rect", NS) for g in root.findall(".//s:g[@class='bar']", NS)}
    assert widths["free"] is None                     # $0 has no place on a log axis
    ticks = [float(t.get("x1")) for t in root.findall("s:line[@class='grid']", NS)]
    decade = ticks[1] - ticks[0]
    gap = float(widths["dear"].get("width")) - float(widths[base.condition].get("width"))
    assert gap == pytest.approx(decade, abs=0.05)     # x10 in cost = one decade on the axis
    assert "$0 (free)" in cost_chart([free])


def test_flowchart_nodes_and_edges_coloured_by_pass_rate(procedure, report):
    trace = {t.condition: t for t in report.trace}["orchestrated"]
    svg = flowchart_svg(procedure, trace)
    root = _parse(svg)
    assert root.get("class") == "flowchart"
    nodes = {g.get("data-node"): g for g in root.iter("{http://www.w3.org/2000/svg}g")
             if "node" in g.get("class", "").split()}
    assert set(nodes) == set(procedure.nodes)
    assert float(nodes["offer"].get("data-pass-rate")) == 0.5
    assert nodes["offer"].find("s:rect", NS).get("fill") == pass_colour(0.5, light=True)
    assert "unvisited" in nodes["goodbye"].get("class")
    assert nodes["goodbye"].find("s:rect", NS).get("fill") == UNSEEN
    assert "hub" in nodes["decide"].get("class") and "terminal" in nodes["booked"].get("class")
    edges = {g.get("data-edge"): g for g in root.findall("s:g[@class='edge']", NS)}
    assert set(edges) == {f"{a}->{b}" for a, b, _ in procedure.edges()}
    assert float(edges["offer->decide"].get("data-pass-rate")) == 0.5
    assert edges["offer->decide"].find("s:path", NS).get("stroke") == pass_colour(0.5)


def test_flowchart_layout_is_layered_and_deterministic(procedure):
    pos = flowchart_layout(procedure)
    assert pos == flowchart_layout(procedure)
    y = {n: p[1] for n, p in pos.items()}
    assert y["greet"] < y["request"] < y["offer"] < y["decide"] < y["booked"] == y["goodbye"]
    assert pos["booked"][0] != pos["goodbye"][0]
    assert flowchart_svg(procedure) == flowchart_svg(procedure)


def test_flowchart_escapes_procedure_text(procedure):
    data = procedure.model_dump()
    data["nodes"]["greet"]["prompt"] = 'Say <b>"hi"</b> & wave'
    data["nodes"]["greet"]["title"] = "<script>x</script>"
    svg = flowchart_svg(Procedure.model_validate(data))
    _parse(svg)
    assert "<script>" not in svg and "<b>" not in svg
    assert "&lt;script&gt;" in svg


def test_pass_colour_scale():
    assert pass_colour(None) == UNSEEN
    hue = lambda c: int(re.match(r"hsl\((\d+)", c).group(1))  # noqa: E731
    assert hue(pass_colour(0.0)) == 0 and hue(pass_colour(1.0)) == 120
    assert hue(pass_colour(0.25)) < hue(pass_colour(0.75))
    assert not math.isnan(hue(pass_colour(2.0)))


def test_flowchart_is_identical_across_processes():
    """No set or hash order leaks into the layout (xdist workers run with different hash seeds)."""
    root = Path(__file__).resolve().parents[3]
    code = ("from harness.procedure import load_procedure; from gate.report.svg import flowchart_svg; "
            "import hashlib; print(hashlib.sha256(flowchart_svg(load_procedure('procedures/insurance.yaml'))"
            ".encode()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert len(digests) == 1
