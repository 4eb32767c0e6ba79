"""Reading gate reports for the commands that summarise them (`cost`, `handling`, `actions`)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from subterra.cli import EXIT_INPUT_ERROR, console, err_console


def add_reports_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("reports", nargs="*", type=Path,
                   help="report.json files or report folders (default: reports/*/report.json)")


def read_reports(given: list[Path]) -> list[dict[str, Any]] | None:
    """The reports' data; None (after saying why) when there are none or one is unreadable."""
    paths = [r / "report.json" if r.is_dir() else r for r in given] or sorted(Path("reports").glob("*/report.json"))
    if not paths:
        err_console.print("error: no reports: run `subterra gate` first, or pass report.json files")
        return None
    reports = []
    for path in paths:
        try:
            reports.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as e:
            err_console.print(f"error: {path}: not a readable report.json ({e})", markup=False)
            return None
    return reports


def print_figures(reports: list[Path], figures: Callable[[dict[str, Any]], list[str]], *, none: str = "") -> int:
    """A summary command's body: `figures(report)`'s lines for each report, or `none` when
    they give no line; the command's exit status."""
    read = read_reports(reports)
    if read is None:
        return EXIT_INPUT_ERROR
    lines = [line for report in read for line in figures(report)]
    if not lines and none:
        console.print(none, markup=False)
    for line in lines:
        console.print(line, highlight=False, markup=False)
    return 0
