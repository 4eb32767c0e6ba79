"""Files as they were at a git ref: what `--against REF` reads of the earlier version."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import NamedTuple

from gate.suite import GateSuite
from harness.errors import SpecErrors
from harness.spec_file import load_spec


class VersionAtRef(NamedTuple):
    """A suite entry's procedure and scenario files as they were at a git ref."""

    ref: str
    procedure: str
    scenarios: str


def file_at_ref(path: Path, ref: str) -> str | None:
    """The file's content at git `ref`, or None when it did not exist there."""
    path = path.resolve()

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(path.parent), *args], capture_output=True, text=True)

    known = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if known.returncode != 0:
        raise ValueError(f"git cannot resolve {ref!r} in {path.parent}: {known.stderr.strip() or 'unknown ref'}")
    shown = git("show", f"{ref}:./{path.name}")
    return shown.stdout if shown.returncode == 0 else None


def suite_at_ref(path: Path, ref: str) -> GateSuite | None:
    """The suite file as it was at git `ref` (its recipe and models), or None when it was
    not there or does not load there."""
    text = file_at_ref(Path(path), ref)
    if text is None:
        return None
    try:
        suite = load_spec(f"{ref}:{path}", GateSuite, "a gate suite (name, procedures, …)", text)
    except SpecErrors:
        return None
    if suite.source is not None:
        suite.source.origin = Path(path).resolve()      # its paths resolve as the current file's do
    return suite
