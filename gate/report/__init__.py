"""The run report: statistics per procedure (data.py), inline SVG plots (svg.py), HTML (html.py).

    data = build_report("nightly", [build_procedure_report(proc, results)], models=...)
    index = write_report(data, Path("reports/nightly"))   # index.html + report.json
"""

from gate.report.data import (
    ProcedureReport,
    ReportData,
    build_procedure_report,
    build_report,
    is_offline_model,
)
from gate.report.html import render_html, write_report

__all__ = [
    "ProcedureReport",
    "ReportData",
    "build_procedure_report",
    "build_report",
    "is_offline_model",
    "render_html",
    "write_report",
]
