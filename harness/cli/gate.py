"""`subterra gate`: run the recompile gate (pytest over the gate suites) and say where the report is."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from harness.cli import Command, command, console


def changed_procedures(ref: str, suites: list[Path]) -> list[str]:
    """Diff each suite procedure against its version at git `ref`; lines to print."""
    from harness.errors import SpecErrors
    from harness.procedure import load_procedure
    from harness.procedure.diff import diff_procedures
    from harness.suite import load_suite

    lines = []
    for suite_path in suites:
        suite = load_suite(suite_path)
        for entry in suite.procedures:
            path = suite.resolve(entry.procedure).resolve()
            rel = path.relative_to(Path.cwd().resolve())
            shown = subprocess.run(["git", "show", f"{ref}:{rel.as_posix()}"], capture_output=True, text=True)
            if shown.returncode != 0:
                lines.append(f"{rel}: not in {ref} (new procedure: everything runs)")
                continue
            try:
                old = load_procedure(f"{ref}:{rel}", text=shown.stdout)
            except SpecErrors as e:
                lines.append(f"{rel}: the version at {ref} does not load ({e.errors[0]})")
                continue
            d = diff_procedures(old, load_procedure(path))
            lines.append(f"{rel} vs {ref}:\n  " + d.summary().replace("\n", "\n  "))
    return lines


@command("gate", "run the recompile gate on the gate suites and write the HTML report")
def _gate(p: argparse.ArgumentParser) -> Command:
    p.add_argument("suites", nargs="*", type=Path,
                   help="gate suite files (default: test_suites/*.gate.yaml)")
    p.add_argument("--against", metavar="REF",
                   help="git ref to compare procedures with; unchanged parts are reused from the store")
    p.add_argument("--recipe", help="compile recipe for every suite (e.g. tiny-cpu for a quick look)")
    p.add_argument("--n", type=int, help="evaluation scenarios per condition")
    p.add_argument("--conditions", help="comma-separated subset of conditions")
    p.add_argument("--cache", choices=["record", "replay", "off"], help="LLM record/replay mode")
    p.add_argument("--workers", default="0",
                   help="pytest-xdist workers (default 0: one process, so local models share the cores)")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, help="after `--`: passed to pytest as they are")

    def run(args: argparse.Namespace) -> int:
        import pytest

        suites = args.suites or sorted(Path("test_suites").glob("*.gate.yaml"))
        if not suites:
            console.print("no gate suites: pass suite files or add test_suites/*.gate.yaml")
            return 2
        if args.against:
            for line in changed_procedures(args.against, suites):
                console.print(line, markup=False)
        test_dir = suites[0].parent
        argv = [str(test_dir / "test_gate.py"), "-p", "no:cacheprovider", "-q",
                "--gate-suite", ",".join(str(s) for s in suites)]
        for flag, value in (("--gate-recipe", args.recipe), ("--gate-n", args.n),
                            ("--gate-conditions", args.conditions), ("--gate-cache", args.cache),
                            ("--gate-against", args.against)):
            if value is not None:
                argv += [flag, str(value)]
        if args.workers != "0":
            argv += ["-n", args.workers]
        argv += [a for a in args.pytest_args if a != "--"]
        return int(pytest.main(argv))
    return run
