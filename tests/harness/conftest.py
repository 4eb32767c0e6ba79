"""Fixtures shared by the harness tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

SUITE = """
name: edits
procedures:
  - {procedure: procedures/travel.yaml, scenarios: scenarios/travel.yaml, n: 6, seed: 3}
conditions: [orchestrated, in_context]
compile: {recipe: tiny-cpu, n: 24}
models: {generator: offline, user: offline, frontier: offline, base: offline, judges: [offline]}
thresholds: {}
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def travel_repo(tmp_path: Path) -> Path:
    """A git repository holding the travel procedure, its scenarios and a gate suite
    (`edits.gate.yaml`: orchestrated and in_context, 6 scenarios, offline), committed."""
    for rel in ("procedures/travel.yaml", "scenarios/travel.yaml"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    (tmp_path / "edits.gate.yaml").write_text(SUITE)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "v1")
    return tmp_path
