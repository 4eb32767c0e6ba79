"""A gate run's reports: one per suite (`<report dir>/<suite name>/index.html` +
report.json), from the results store: whichever processes ran the conversations, the
data is the same."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gate.against.regression_checks import edit_comparison
from gate.report.changes import CHANGES_MD, changes_markdown
from gate.report.data import build_procedure_report, build_report
from gate.report.economics import condition_pricing, projected_economics
from gate.report.header import header_models
from gate.report.html import write_report

if TYPE_CHECKING:
    from gate.run import GateRun, ProcedureRun


def write_reports(run: GateRun) -> list[Path]:
    report_root = Path(run.settings.report_dir or run.root / "reports")
    suites: dict[str, list[ProcedureRun]] = {}
    for proc in run.procedures:
        suites.setdefault(proc.suite.name, []).append(proc)
    written = []
    for name, procs in suites.items():
        reports, compile_timings, economics = [], {}, {}
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
            spoken = {c: {r.transcript.agent_model for r in rs} for c, rs in results.items()}
            prices, projected, hosting = condition_pricing(list(results), proc.suite.models.frontier, spoken)
            report = build_procedure_report(proc.procedure, results, compile_info=compiled.info(),
                                            condition_prices=prices, projected=projected, hosting=hosting,
                                            changes=changes, scenarios=proc.scenarios,
                                            stage_seconds={c: proc.stage_seconds(c) for c in results})
            reports.append(report)
            economics[proc.procedure.name] = projected_economics(
                report.costs, datagen_usage=compiled.datagen.usage, generator_spec=proc.suite.models.generator,
                datagen_model=compiled.datagen.model, training_seconds=compiled.cycle_seconds()["fine-tuning"])
        if reports:
            # The break-even includes the fine-tuning time it took here: a timing, kept apart.
            data = build_report(name, reports, models=header_models(procs[0].suite.models, reports),
                                timings={"recompile_cycle_s": compile_timings, "economics": economics})
            written.append(write_report(data, report_root / name))
            if any(p.changes for p in reports):
                (report_root / name / CHANGES_MD).write_text(changes_markdown(data), encoding="utf-8")
    return written
