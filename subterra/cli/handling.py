"""`subterra handling`: what the models of a gate run did that the run absorbed, per condition
and role, from its report (`make rehearse` closes with it)."""

from __future__ import annotations

import argparse

from subterra.cli import EXIT_INPUT_ERROR, Command, command, console
from subterra.cli.reports import add_reports_argument, read_reports


def _rate(part: int, whole: int) -> str:
    return f"{part}/{whole}" + (f" ({100 * part / whole:.0f} %)" if whole else "")


def figures(report: dict) -> list[str]:
    """One line per condition and judge: the counts of `gate.report.data.ProcedureReport.handling`
    (constrained: answers the provider held to the options or the rubric's schema; the rest
    were parsed from free text)."""
    lines = []
    for proc in report["procedures"]:
        lines.append(f"{report['run_name']} / {proc['procedure']['name']}")
        for condition, h in proc["handling"].items():
            held = h.get("constrained_routes", 0)
            lines.append(f"  {condition:<13} unparsed routes {_rate(h['unparsed_routes'], h['routing_calls'])}"
                         + (f" (constrained {_rate(held, h['routing_calls'])})" if held else "") + ", "
                         f"turn-cap endings {_rate(h['turn_cap_endings'], h['conversations'])}, "
                         f"empty agent replies {_rate(h['empty_agent_replies'], h['agent_turns'])}, "
                         f"empty customer replies {h['empty_user_replies']}, "
                         f"agent/customer errors {h['agent_errors']}/{h['simulator_errors']}")
            for j in h["judges"]:
                asked = j["judged"] - j["call_failures"]
                held = j.get("constrained", 0)
                lines.append(f"    judge {j['judge']}: " + (f"constrained {_rate(held, asked)}, " if held else "")
                             + f"parse failures {_rate(j['invalid_first'], asked)}, "
                             f"repaired {_rate(j['repaired'], j['invalid_first'])}, "
                             f"unscored {j['unparsed']} (+{j['call_failures']} failed calls)")
    return lines


@command("handling", "what the models did that a gate run absorbed (judge parse failures, unparsed routes, ...)")
def _handling(p: argparse.ArgumentParser) -> Command:
    add_reports_argument(p)

    def run(args: argparse.Namespace) -> int:
        reports = read_reports(args.reports)
        if reports is None:
            return EXIT_INPUT_ERROR
        for report in reports:
            for line in figures(report):
                console.print(line, markup=False)
        return 0
    return run
