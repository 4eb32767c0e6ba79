"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROCEDURE_DATA = Path(__file__).parent / "harness" / "procedure"


@pytest.fixture
def mini_path() -> Path:
    """A small valid procedure: 6 nodes, one hub with a loop."""
    return PROCEDURE_DATA / "valid.yaml"


@pytest.fixture
def mini_text(mini_path: Path) -> str:
    return mini_path.read_text()
