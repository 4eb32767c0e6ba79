"""The latest gate results of one compiled model, found by its fingerprint, for its model card.

The gate stores each evaluated conversation under `<root>/.subterra/runs/<run>/<procedure>/
<condition>/NNNN.json`, and labels the compiled model's transcripts
``local:compiled-<model fingerprint[:12]>``. A gate run whose subterranean conversations carry
that label evaluated this model; the most recently written such run is the latest.
"""

from __future__ import annotations

from pathlib import Path
from statistics import mean

from gate.result_store import ConversationResult
from harness.judges.rubric import CRITERIA

__all__ = ["compiled_label", "latest_results", "results_markdown"]


def compiled_label(model_fingerprint: str) -> str:
    """How gate transcripts name the compiled model (the store path differs between checkouts)."""
    return f"local:compiled-{model_fingerprint[:12]}"


def latest_results(runs_dir: Path, procedure: str, model_fingerprint: str
                   ) -> tuple[Path, list[ConversationResult]] | None:
    """(run folder, results) of the latest gate run of this model, or None."""
    label = compiled_label(model_fingerprint)
    found: list[tuple[float, Path, list[ConversationResult]]] = []
    for group in sorted(runs_dir.glob(f"*/{procedure}/subterranean")):
        files = sorted(group.glob("*.json"))
        results = [ConversationResult.model_validate_json(f.read_text(encoding="utf-8")) for f in files]
        if results and all(r.transcript.agent_model == label for r in results):
            found.append((max(f.stat().st_mtime for f in files), group.parent.parent, results))
    if not found:
        return None
    _, run, results = max(found, key=lambda item: (item[0], str(item[1])))
    return run, results


def results_markdown(run: Path, results: list[ConversationResult]) -> str:
    """A short Markdown table of a run's subterranean results (offline judges labelled)."""
    n = len(results)
    judges = sorted({j.judge for r in results for j in r.judges})
    offline = any("offline" in j for j in judges)
    rows = [
        ("conversations", str(n)),
        ("reached a terminal", f"{sum(r.verdict.terminal is not None for r in results)}/{n}"),
        ("valid trace", f"{sum(r.verdict.valid for r in results)}/{n}"),
    ]
    for criterion in CRITERIA:
        scores = [s for r in results if (s := r.score(criterion)) is not None]
        if scores:
            rows.append((f"mean {criterion}", f"{mean(scores):.2f} ({len(scores)} judged)"))
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    note = " These scores are offline (scripted judges), not a real model's judgement." if offline else ""
    return (f"Latest gate run `{run.name}` (subterranean condition, judges: "
            f"{', '.join(judges) or 'none'}).{note}\n\n| | |\n|---|---|\n{table}\n")
