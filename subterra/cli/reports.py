"""Reading gate reports for the commands that summarise them (`cost`, `handling`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from subterra.cli import err_console


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
