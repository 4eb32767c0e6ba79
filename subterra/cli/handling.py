"""`subterra handling`: what the models of a gate run did that the run absorbed, per condition
and role, from its report (`make rehearse` closes with it)."""

from __future__ import annotations

import argparse

from subterra.cli import Command, command
from subterra.cli.reports import add_reports_argument, print_figures


def _share(part: int, whole: int, rate: float | None) -> str:
    """`part/whole (pct %)`: the percentage is the rate as the report holds it (None: of nothing)."""
    return f"{part}/{whole}" + (f" ({100 * rate:.0f} %)" if rate is not None else "")


def _of(part: int, whole: int) -> float | None:
    # Shares the report keeps as counts only (turn-cap endings, empty agent replies).
    return part / whole if whole else None


def figures(report: dict) -> list[str]:
    """One line per condition and judge: the counts and rates of
    `gate.report.data.ProcedureReport.handling` (`harness.incidents.Handling`); constrained:
    answers the provider held to the options or the rubric's schema (the rest were parsed
    from free text)."""
    lines = []
    for proc in report["procedures"]:
        lines.append(f"{report['run_name']} / {proc['procedure']['name']}")
        for condition, h in proc["handling"].items():
            capped, empty = (h["turn_cap_endings"], h["conversations"]), (h["empty_agent_replies"], h["agent_turns"])
            held = h.get("constrained_routes", 0)
            lines.append(f"  {condition:<13} unparsed routes "
                         f"{_share(h['unparsed_routes'], h['routing_calls'], h['unparsed_route_rate'])}"
                         + (f" (constrained {_share(held, h['routing_calls'], _of(held, h['routing_calls']))})"
                            if held else "") + ", "
                         f"turn-cap endings {_share(*capped, _of(*capped))}, "
                         f"empty agent replies {_share(*empty, _of(*empty))}, "
                         f"empty customer replies {h['empty_user_replies']}, "
                         f"agent/customer errors {h['agent_errors']}/{h['simulator_errors']}")
            for j in h["judges"]:
                asked = j["judged"] - j["call_failures"]
                held = j.get("constrained", 0)
                lines.append(f"    judge {j['judge']}: " + (f"constrained {_share(held, asked, _of(held, asked))}, "
                                                         if held else "")
                             + f"parse failures {_share(j['invalid_first'], asked, j['parse_failure_rate'])}, "
                             f"repaired {_share(j['repaired'], j['invalid_first'], j['repair_rate'])}, "
                             f"unscored {j['unparsed']} (+{j['call_failures']} failed calls)")
    return lines


@command("handling", "what the models did that a gate run absorbed (judge parse failures, unparsed routes, ...)")
def _handling(p: argparse.ArgumentParser) -> Command:
    add_reports_argument(p)

    def run(args: argparse.Namespace) -> int:
        return print_figures(args.reports, figures)
    return run
