"""A gate run's reports: one per suite (`<report dir>/<suite name>/index.html` +
report.json), from the results store: whichever processes ran the conversations, the
data is the same."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gate.before_after import edit_comparison
from gate.report.changes import CHANGES_MD, changes_markdown
from gate.report.data import build_procedure_report, build_report
from gate.report.html import write_report
from harness.conditions import CONDITIONS, model_role
from harness.llm import self_hosted_price

if TYPE_CHECKING:
    from gate.run import GateRun, ProcedureRun

# The paper's self-hosting assumption (§5): an A100 at $2.50/h, ~15K prefill and ~3K decode tok/s.
SELF_HOSTED = self_hosted_price(2.50, 15_000, 3_000)


def write_reports(run: GateRun) -> list[Path]:
    report_root = Path(run.settings.report_dir or run.root / "reports")
    suites: dict[str, list[ProcedureRun]] = {}
    for proc in run.procedures:
        suites.setdefault(proc.suite.name, []).append(proc)
    written = []
    for name, procs in suites.items():
        reports, compile_timings = [], {}
        for proc in procs:
            results = {c: proc.stored_results(c) for c in proc.suite.conditions}
            results = {c: rs for c, rs in results.items() if rs}
            if not results:
                continue
            compiled = run.compiled(proc.key)
            # All results are in the store by now: this only reads them (the xdist controller
            # ran no test itself).
            changes = edit_comparison(proc, compiled) if proc.before is not None else None
            compile_timings[proc.procedure.name] = compiled.cycle_seconds()
            reports.append(build_procedure_report(
                proc.procedure, results, compile_info=compiled.info(), changes=changes,
                condition_prices={c: SELF_HOSTED for c in CONDITIONS if model_role(c) != "frontier"}))
        if reports:
            models = procs[0].suite.models.model_dump()
            models = {k: ", ".join(v) if isinstance(v, list) else v for k, v in models.items()}
            data = build_report(name, reports, models=models, timings={"recompile_cycle_s": compile_timings})
            written.append(write_report(data, report_root / name))
            if any(p.changes for p in reports):
                (report_root / name / CHANGES_MD).write_text(changes_markdown(data), encoding="utf-8")
    return written
