"""index.html and report.json: self-contained, escaped, complete, deterministic."""

from __future__ import annotations

import json
import re
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from gate.report import build_procedure_report, build_report, render_html, write_report
from tests.conftest import ROOT

EVIL = "<script>alert('x')</script> & <b>bold</b>"


def _data(procedure, make_results, *, offline=False, second_judge="gpt-4.1", wall_clock_s=1.5, **kw):
    results = make_results(offline=offline, second_judge=second_judge, text=EVIL, wall_clock_s=wall_clock_s)
    report = build_procedure_report(procedure, results, n_resamples=500, compile_info={"checkpoint": "ckpt-1"})
    return build_report("nightly", [report], models={"judge": "offline" if offline else "claude-sonnet-4-5"}, **kw)


@pytest.fixture
def page(procedure, make_results) -> str:
    return render_html(_data(procedure, make_results))


def test_every_section_table_and_figure_is_present(page):
    for cls in ("quality", "offline-scores", "comparisons", "failures", "conversation-stats", "costs",
                "agreement", "trace-nodes", "trace-edges"):
        assert f'<table class="{cls}"' in page, cls
    assert page.count('<svg class="plot-scores"') == 1
    assert page.count('<svg class="plot-cost"') == 1
    assert page.count('<svg class="flowchart"') == 2          # one per condition
    for section in ('id="summary"', 'id="proc-mini_booking"', 'id="timings"', 'id="transcripts-mini_booking"'):
        assert section in page
    assert "ckpt-1" in page


def test_one_details_per_transcript(page):
    assert len(re.findall(r'<details class="transcript"', page)) == 20
    assert page.count("<summary>") >= 20


def test_transcript_text_is_escaped(page):
    assert "<script" not in page          # no script of ours, and none from a transcript
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page


def test_self_contained(page):
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<link" not in page and "@import" not in page
    urls = set(re.findall(r"https?://[^\s\"'<>]+", page))
    assert urls <= {"http://www.w3.org/2000/svg"}


def test_offline_banner_only_when_offline(procedure, make_results, page):
    assert 'class="offline-banner"' not in page
    offline = render_html(_data(procedure, make_results, offline=True))
    assert 'class="offline-banner"' in offline and "OFFLINE RUN" in offline
    # offline judge scores are labelled as such
    assert "scores from the offline judge" in offline
    assert 'class="tag-offline"' in offline


def test_reference_comparison_shows_sign_and_stars(page):
    row = re.search(r'<tr data-comparison="orchestrated" data-criterion="task_success">(.*?)</tr>', page, re.S)
    assert row and "+1.40" in row.group(1)
    assert re.search(r'<td class="p">[^<]*\*</td>', row.group(1))


def test_write_report_json_is_deterministic(procedure, make_results, tmp_path):
    a = write_report(_data(procedure, make_results, wall_clock_s=1.0), tmp_path / "a")
    b = write_report(_data(procedure, make_results, wall_clock_s=1.0), tmp_path / "b")
    assert a.name == "index.html" and a.exists()
    ja, jb = (a.parent / "report.json").read_bytes(), (b.parent / "report.json").read_bytes()
    assert ja == jb
    c = write_report(_data(procedure, make_results, wall_clock_s=7.0, timings={"total_s": 3.0}), tmp_path / "c")
    body = [json.loads(p.parent.joinpath("report.json").read_text()) for p in (a, c)]
    assert body[0]["timings"] != body[1]["timings"]
    for d in body:
        d.pop("timings")
    assert json.dumps(body[0], sort_keys=True) == json.dumps(body[1], sort_keys=True)
    assert body[0]["offline"] is False and body[0]["run_name"] == "nightly"


def test_template_is_package_data():
    assert (resources.files("gate.report") / "templates" / "report.html.j2").is_file()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["gate"]
    assert any(Path("report/templates/report.html.j2").match(g) for g in globs)
