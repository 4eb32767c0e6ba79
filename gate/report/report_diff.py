"""`python -m gate.report.report_diff A/report.json B/report.json`: are two runs' report data equal?

Timings differ run to run (and so does everything derived from them), so they are left out;
everything else must be identical. Exit 0 when equal, 1 with the first difference otherwise.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """Where `a` and `b` first differ ('procedures[0].costs[2].cost: 0.1 != 0.2'), or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}.{key}: only in {'the second' if key in b else 'the first'}"
            found = first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)}"
        return next((d for i, (x, y) in enumerate(zip(a, b, strict=True))
                     if (d := first_difference(x, y, f"{path}[{i}]"))), None)
    return None if a == b else f"{path}: {str(a)[:200]!r} != {str(b)[:200]!r}"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m gate.report.report_diff FIRST/report.json SECOND/report.json", file=sys.stderr)
        return 2
    first, second = (json.loads(open(path, encoding="utf-8").read()) for path in argv)
    for data in (first, second):
        data.pop("timings", None)
    difference = first_difference(first, second)
    if difference:
        print(f"the reports differ at {difference.lstrip('.')}", file=sys.stderr)
        return 1
    print("the reports are identical (timings aside)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
