"""What `subterra gate --against REF` prints before anything runs: the edit, and how many
scenarios stay clear of it."""

from __future__ import annotations

from pathlib import Path

from gate.against.preview import changed_procedures
from tests.conftest import git


def test_against_describes_the_edit_and_what_may_be_reused(travel_repo: Path) -> None:
    path = travel_repo / "procedures/travel.yaml"
    path.write_text(path.read_text().replace("Confirm that the agent should book the trip.",
                                             "Confirm the booking and ask for an email receipt.", 1))
    lines = changed_procedures("HEAD", [travel_repo / "edits.gate.yaml"])
    text = "\n".join(lines)
    assert "nodes changed: confirm_booking (prompt)" in text
    # Of the suite's 6 scenarios two never reach the booking summary or its confirmation.
    assert "2/6 scenarios avoid the edit" in text
    assert "/3 scenarios avoid the edit" in "\n".join(changed_procedures("HEAD", [travel_repo / "edits.gate.yaml"], n=3))


def test_against_a_ref_without_the_procedure_says_everything_runs(travel_repo: Path) -> None:
    git(travel_repo, "rm", "-q", "--cached", "procedures/travel.yaml")
    git(travel_repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "untrack")
    (line,) = changed_procedures("HEAD", [travel_repo / "edits.gate.yaml"])
    assert line.endswith("travel.yaml: not in HEAD (new procedure: everything runs)")
