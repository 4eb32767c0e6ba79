"""The report header's models: which model each role was given, and which one answered.

A role shows the spec the suite resolved to (with why a fallback was taken, see
`harness.llm.choice`) and, when the answers came from another model than the one named,
"answered by …": an `anthropic:` role pointed at a local rehearsal server says so.
"""

from __future__ import annotations

from collections.abc import Sequence

from gate.report.data import ProcedureReport
from gate.suite import Models
from harness.conditions import model_role

__all__ = ["header_models"]


def _answered(reports: Sequence[ProcedureReport]) -> dict[str, set[str]]:
    answered: dict[str, set[str]] = {}
    for report in reports:
        answered.setdefault("generator", set()).add(str(report.compile_info.get("datagen_model") or ""))
        for t in report.transcripts:
            answered.setdefault("user", set()).add(t.user_model)
            role = model_role(t.condition)
            if role in ("frontier", "base"):
                answered.setdefault(role, set()).add(t.agent_model)
            for i, judge in enumerate(t.judges, 1):
                answered.setdefault(f"judge {i}", set()).add(judge.model)
    return answered


def header_models(models: Models, reports: Sequence[ProcedureReport]) -> dict[str, str]:
    """role -> 'spec', 'spec (why it was chosen)' or 'spec, answered by X'."""
    answered = _answered(reports)
    header = {}
    for role, spec in models.specs().items():
        text = models.chosen.get(role, spec)
        name = spec.split(":", 1)[-1]
        others = sorted(m for m in answered.get(role, set()) if m and m != spec and name not in m)
        header[role] = text + (f", answered by {', '.join(others)}" if others else "")
    if "judges" in models.chosen:
        header["judges chosen"] = models.chosen["judges"]
    return header
