"""`subterra gate`: run the recompile gate (pytest over the gate suites) and say where the report is."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from subterra.cli import Command, command, console


@command("gate", "run the recompile gate on the gate suites and write the HTML report")
def _gate(p: argparse.ArgumentParser) -> Command:
    p.add_argument("suites", nargs="*", type=Path,
                   help="gate suite files (default: test_suites/*.gate.yaml)")
    p.add_argument("--against", metavar="REF",
                   help="git ref of an earlier version: print what changed, reuse its conversations "
                        "the edit cannot have touched (orchestrated, langgraph; see gate/against/reuse.py)")
    p.add_argument("--recipe", help="compile recipe for every suite (e.g. tiny-cpu for a quick look)")
    p.add_argument("--n", type=int, help="evaluation scenarios per condition")
    p.add_argument("--trials", type=int, metavar="K",
                   help="run each scenario K times per condition (independent sampling): pass^k, flaky scenarios")
    p.add_argument("--conditions", help="comma-separated subset of conditions")
    p.add_argument("--cache", choices=["record", "replay", "off"], help="LLM record/replay mode")
    p.add_argument("--workers", default="0",
                   help="pytest-xdist workers (default 0: one process, so local models share the cores)")
    p.add_argument("--collect-only", action="store_true", help="list the gate tests without running them")
    p.add_argument("--pytest-args", default="", metavar="ARGS",
                   help="more pytest arguments, as one string (e.g. '-x -k orchestrated')")

    def run(args: argparse.Namespace) -> int:
        import pytest

        suites = args.suites or sorted(Path("test_suites").glob("*.gate.yaml"))
        if not suites:
            console.print("no gate suites: pass suite files or add test_suites/*.gate.yaml")
            return 2
        if args.against:
            from gate.against.preview import changed_procedures

            try:
                lines = changed_procedures(args.against, suites, args.n)
            except ValueError as e:        # an unknown ref, or not a git checkout
                console.print(f"error: {e}", markup=False)
                return 2
            for line in lines:
                console.print(line, markup=False)
        from gate.settings import GateSettings

        try:
            settings = GateSettings.parse({"suites": ",".join(map(str, suites)), "recipe": args.recipe,
                                           "n": args.n, "trials": args.trials, "conditions": args.conditions, "cache": args.cache,
                                           "against": args.against})
        except ValueError as e:
            console.print(f"error: {e}", markup=False)
            return 2
        from gate.suite import load_suite

        for suite in suites:        # every suite error now, one line each, not in a collection report
            settings.apply(load_suite(suite))
        beside = suites[0].parent / "test_gate.py"
        if beside.is_file():
            argv = [str(beside)]
        else:                       # the gate's own tests; results and reports stay under this directory
            from gate import suite_tests

            argv = [suite_tests.__file__, "--rootdir", str(Path.cwd())]
        # Checking the suites imported a few modules that are also pytest plugins (anyio, via
        # httpx); pytest cannot rewrite their asserts any more, which does not matter here.
        argv += ["-p", "no:cacheprovider", "-q", "-W", "ignore::pytest.PytestAssertRewriteWarning",
                 *settings.pytest_args()]
        if args.collect_only:
            argv.append("--collect-only")
        if args.workers != "0":
            argv += ["-n", args.workers]
        argv += shlex.split(args.pytest_args)
        return int(pytest.main(argv))
    return run
