"""The report's Timings section: where a procedure's seconds went, one row per stage.

report.json keeps its `timings` as they are (nested, machine-readable); this module reads
them into a table per procedure for the page: the recompile cycle's stages (data generation,
fine-tuning, as long as each took when it was built, reused or not) and each condition's
stage (its conversations, run side by side, and their judging, as long as that took when it
ran), with their seconds and their share of the table's sum. Results stored before stages
were timed show their conversations' summed wall-clock instead, said so in the row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["StageTime", "TimingTable", "run_figures", "timing_tables"]


class StageTime(BaseModel):
    model_config = ConfigDict(frozen=True)

    stage: str
    seconds: float
    share: float          # of the table's sum, 0..1
    detail: str = ""


class TimingTable(BaseModel):
    model_config = ConfigDict(frozen=True)

    procedure: str
    stages: list[StageTime]

    @property
    def total_s(self) -> float:
        return sum(s.seconds for s in self.stages)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _rows(cycle: Mapping[str, Any], conditions: Mapping[str, Any]) -> list[tuple[str, float, str]]:
    rows = [(stage, seconds, "recompile cycle, as long as it took when built")
            for stage, value in cycle.items() if (seconds := _number(value)) is not None]
    for condition, figures in conditions.items():
        count = len(figures.get("wall_clock_s") or {})
        mean = _number(figures.get("mean_wall_clock_s"))
        each = f", {mean:.1f} s each on average" if mean is not None else ""
        conversations = f"{count} conversation{'' if count == 1 else 's'}"
        stage = _number(figures.get("stage_s"))
        if stage is not None:       # the stage as it ran: conversations side by side, then judged
            rows.append((f"{condition} conversations", stage, f"{conversations} run concurrently and judged{each}"))
            continue
        total = _number(figures.get("total_wall_clock_s"))
        if total is not None:       # results stored before stages were timed
            rows.append((f"{condition} conversations", total,
                         f"{conversations}{each}; summed over conversations that ran concurrently"))
    return rows


def timing_tables(timings: Mapping[str, Any]) -> list[TimingTable]:
    """One table per procedure from a report's `timings` (as `build_report` gathers them)."""
    cycles: Mapping[str, Any] = timings.get("recompile_cycle_s") or {}
    procedures: Mapping[str, Any] = timings.get("procedures") or {}
    tables = []
    for name in sorted(set(cycles) | set(procedures)):
        rows = _rows(cycles.get(name) or {}, (procedures.get(name) or {}).get("conditions") or {})
        if not rows:
            continue
        total = sum(seconds for _, seconds, _ in rows)
        tables.append(TimingTable(procedure=name, stages=[
            StageTime(stage=stage, seconds=seconds, share=seconds / total if total > 0 else 0.0, detail=detail)
            for stage, seconds, detail in rows]))
    return tables


def run_figures(timings: Mapping[str, Any]) -> list[tuple[str, float]]:
    """The run-wide figures (top-level `*_s` numbers, such as a total), as (label, seconds)."""
    return [(key.removesuffix("_s").replace("_", " "), seconds) for key, value in sorted(timings.items())
            if key.endswith("_s") and (seconds := _number(value)) is not None]
