"""Files and suites as they were at a git ref."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.against.git_ref import file_at_ref, suite_at_ref
from tests.conftest import git


def test_file_at_ref_reads_git_and_tells_a_missing_file_from_a_bad_ref(travel_repo: Path) -> None:
    path = travel_repo / "procedures/travel.yaml"
    committed = path.read_text()
    path.write_text(committed + "\n# edited\n")
    assert file_at_ref(path, "HEAD") == committed
    assert file_at_ref(travel_repo / "procedures/new.yaml", "HEAD") is None
    with pytest.raises(ValueError, match="no-such-ref"):
        file_at_ref(path, "no-such-ref")


def test_the_suite_at_a_ref_resolves_its_paths_as_the_current_file_does(travel_repo: Path) -> None:
    path = travel_repo / "edits.gate.yaml"
    committed = path.read_text()
    path.write_text(committed.replace("n: 24", "n: 30"))
    suite = suite_at_ref(path, "HEAD")
    assert suite is not None and suite.compile.n == 24
    assert suite.resolve(Path("procedures/travel.yaml")) == travel_repo.resolve() / "procedures/travel.yaml"
    assert suite_at_ref(travel_repo / "missing.gate.yaml", "HEAD") is None       # not there at HEAD
    path.write_text("name: [broken")
    git(travel_repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "break the suite")
    assert suite_at_ref(path, "HEAD") is None                                   # does not load there
