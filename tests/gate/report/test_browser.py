"""The written report in a real headless Chromium: things render with size, details open."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from gate.report import build_procedure_report, build_report, write_report

pytestmark = pytest.mark.browser


def _chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture
def browser_page(procedure, make_results, tmp_path):
    executable = _chromium()
    if executable is None:
        pytest.skip("no Chromium: install it (apt-get install chromium) or point $CHROMIUM at one")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    report = build_procedure_report(procedure, make_results(second_judge="gpt-4.1", text="<script>alert(1)</script>"),
                                    n_resamples=500)
    index = write_report(build_report("browser", [report], models={"judge": "claude-sonnet-4-5"}), tmp_path)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(index.as_uri())
            yield page, dialogs
        finally:
            browser.close()


def _visible_with_size(locator) -> None:
    locator.scroll_into_view_if_needed()
    assert locator.is_visible()
    box = locator.bounding_box()
    assert box is not None and box["width"] > 50 and box["height"] > 50, box


def test_tables_plots_and_flowchart_render(browser_page):
    page, dialogs = browser_page
    for selector in ("table.quality", "table.comparisons", "table.failures", "table.costs",
                     "table.agreement", "svg.plot-scores", "svg.plot-cost", "svg.flowchart"):
        _visible_with_size(page.locator(selector).first)
    assert page.locator("svg.flowchart g.node").count() == 2 * 6
    node = page.locator('svg.flowchart g.node[data-node="greet"]').first
    assert node.bounding_box()["width"] > 20
    assert page.locator("svg.plot-scores g.bar").count() == 10
    assert dialogs == []                 # the escaped <script> in a turn never ran


def test_transcript_opens_on_click(browser_page):
    page, _ = browser_page
    details = page.locator("details.transcript").first
    body = details.locator(".transcript-body")
    assert details.get_attribute("open") is None
    assert not body.is_visible()
    details.locator("summary").click()
    assert details.get_attribute("open") is not None
    assert body.is_visible()
    assert "<script>alert(1)</script>" in body.inner_text()   # shown as text
