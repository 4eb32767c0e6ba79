"""Render a `ReportData` as one self-contained index.html, and write it with report.json.

The page has inline CSS and inline SVG only: no scripts, no external URLs, so it opens
from a CI artifact or an air-gapped machine. Jinja2 autoescaping is on, so transcript text
(which a model wrote) is always escaped; the SVG strings come from `svg.py`, which escapes
its own text, and are the only values marked safe.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import jinja2
from markupsafe import Markup

from gate.report.svg import (
    CRITERION_LABELS,
    condition_colour,
    cost_chart,
    flowchart_svg,
    pass_k_chart,
    scores_chart,
)
from gate.report.timings import run_figures, timing_tables
from gate.report.views import ProcedureReport, ReportData, is_offline_model
from gate.result_store import dump_json
from gate.verdicts import RULE, VERDICT_LABELS
from harness.cost import dollars
from harness.files import write_atomic
from harness.judges.rubric import CRITERIA
from harness.stats import format_p

__all__ = ["render_html", "write_report"]

TEMPLATE = "report.html.j2"


def _template_source(name: str) -> str:
    # importlib.resources reads it from an installed wheel or a source checkout alike.
    return (resources.files("gate.report") / "templates" / name).read_text(encoding="utf-8")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FunctionLoader(_template_source), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    env.filters.update(
        num=lambda x, d=2: "—" if x is None else f"{x:.{d}f}",
        signed=lambda x, d=2: "—" if x is None else f"{x:+.{d}f}".replace("-", "−"),
        pct=lambda x, d=0: "—" if x is None else f"{100 * x:.{d}f} %",
        pvalue=lambda p: format_p(p),
        money=dollars,
        # Positional always (a scientific 1.2e+03× reads as noise): 462×, 12.50×, 0.041×.
        ratio=lambda x: "—" if x is None else (f"{x:,.0f}×" if x >= 100 else f"{x:.2f}×" if x >= 1 else f"{x:.3f}×"),
    )
    return env


def _figures(p: ProcedureReport) -> dict[str, Markup]:
    traces = {t.condition: t for t in p.trace}
    figs = {"scores": Markup(scores_chart(p.summaries, title=f"{p.procedure.title}: mean score (95 % CI)")),
            "cost": Markup(cost_chart(p.costs)),
            # colours follow the conditions' order, as in the other plots
            "pass_k": Markup(pass_k_chart([(r.condition, r.pass_k) for r in p.reliability],
                                          title=f"{p.procedure.title}: pass^k against k"))}
    if p.changes is not None:
        marked = {n.node: n.status for n in p.changes.nodes if n.status in ("added", "changed")}
        figs["changes"] = Markup(flowchart_svg(p.procedure, None, css_id=f"changes-{p.name}", marked=marked))
    for c in p.conditions:
        figs[f"flow:{c}"] = Markup(flowchart_svg(p.procedure, traces.get(c), css_id=f"flow-{p.name}-{c}"))
    return figs


def render_html(data: ReportData) -> str:
    """The whole report page as a string."""
    template = _environment().get_template(TEMPLATE)
    return template.render(
        data=data, criteria=CRITERIA, labels=CRITERION_LABELS, colour=condition_colour,
        verdict_labels=VERDICT_LABELS, verdict_rule=RULE,
        figures={p.name: _figures(p) for p in data.procedures},
        offline_models=sorted({m for p in data.procedures for m in p.offline_models}
                              | {m for m in data.models.values() if is_offline_model(m)}),
        timing_tables=timing_tables(data.timings), run_timings=run_figures(data.timings),
    )


def write_report(data: ReportData, out_dir: Path) -> Path:
    """Write `index.html` and `report.json` (deterministic, sorted keys) into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dump_json(data.json_data(), out_dir / "report.json")
    index = out_dir / "index.html"
    write_atomic(index, render_html(data))
    return index
