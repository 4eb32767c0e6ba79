"""What `subterra gate --against REF` prints before it runs: each suite procedure's diff
against its version at REF, and how many scenarios stay clear of the edit."""

from __future__ import annotations

from pathlib import Path

from gate.against.git_ref import file_at_ref
from gate.against.reuse import Edit
from gate.suite import load_suite
from harness.conditions import CONDITIONS, condition_class
from harness.errors import SpecErrors
from harness.procedure import load_procedure
from harness.procedure.diff import diff_procedures, touched_nodes
from harness.scenarios import load_scenario_set, sample_scenarios


def changed_procedures(ref: str, suites: list[Path], n: int | None = None) -> list[str]:
    """Diff each suite procedure against its version at git `ref`; lines to print.
    `n` overrides the suites' scenario counts, as `--n` does for the run."""
    reusable = sorted(c for c in CONDITIONS if condition_class(c).reusable_after_edit)
    rerun = " and ".join(c for c in CONDITIONS if not condition_class(c).reusable_after_edit)
    lines = []
    for suite_path in suites:
        suite = load_suite(suite_path)
        for entry in suite.procedures:
            path = _shown(suite.resolve(entry.procedure))
            text = file_at_ref(path, ref)
            if text is None:
                lines.append(f"{path}: not in {ref} (new procedure: everything runs)")
                continue
            try:
                old = load_procedure(f"{ref}:{path}", text=text)
            except SpecErrors as e:
                lines.append(f"{path}: the version at {ref} does not load ({e.errors[0]})")
                continue
            new = load_procedure(path)
            lines.append(f"{path} vs {ref}:\n  " + diff_procedures(old, new).summary().replace("\n", "\n  "))
            edit = Edit(ref, touched_nodes(old, new))
            scenarios = sample_scenarios(load_scenario_set(suite.resolve(entry.scenarios)), new, n or entry.n,
                                         entry.seed)
            clear = sum(edit.avoids(s) for s in scenarios)
            lines.append(f"  {clear}/{len(scenarios)} scenarios avoid the edit: {', '.join(reusable)} "
                         f"reuse those conversations from {ref} where they stayed clear of it too; "
                         f"the rest, and every {rerun} conversation, run again")
    return lines


def _shown(path: Path) -> Path:
    """The path as a user would type it: relative to the working directory when inside it."""
    path = path.resolve()
    try:
        return path.relative_to(Path.cwd().resolve())
    except ValueError:
        return path
