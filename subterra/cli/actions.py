"""`subterra actions`: what the agent did to the backend in a gate run (procedures with tools),
per condition and tool step, from its report: end-state match rate and tool-call accuracy."""

from __future__ import annotations

import argparse

from subterra.cli import Command, command
from subterra.cli.reports import add_reports_argument, print_figures


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole}" + (f" ({100 * part / whole:.0f} %)" if whole else "")


def figures(report: dict) -> list[str]:
    """One line per condition, then one per tool step: `gate.report.data.ProcedureReport.actions`."""
    lines = []
    for proc in report["procedures"]:
        if not proc.get("actions"):
            continue
        offline = " (offline models played a part)" if proc.get("offline") else ""
        lines.append(f"{report['run_name']} / {proc['procedure']['name']}{offline}")
        for a in proc["actions"]:
            h = proc.get("handling", {}).get(a["condition"], {})
            lines.append(f"  {a['condition']:<13} end-state match {_share(a['end_state_matches'], a['n'])}, "
                         f"tool-call accuracy {_share(a['correct_steps'], a['tool_steps'])}, "
                         f"action-correct {_share(a['action_correct'], a['n'])}, extra calls {a['extra_calls']}, "
                         f"unreadable calls/arguments {h.get('unparsed_tool_calls', 0)}, "
                         f"tool errors {h.get('tool_errors', 0)}")
            for s in a["steps"]:
                lines.append(f"    {s['node']:<14} {s['tool']:<18} correct {_share(s['correct'], s['total'])}: "
                             f"tool {s['right_tool']}, arguments {s['right_arguments']}, point {s['right_point']}")
    return lines


@command("actions", "what the agent did to the backend in a gate run: end-state match, tool-call accuracy")
def _actions(p: argparse.ArgumentParser) -> Command:
    add_reports_argument(p)

    def run(args: argparse.Namespace) -> int:
        return print_figures(args.reports, figures, none="no procedure with tools in these reports")
    return run
