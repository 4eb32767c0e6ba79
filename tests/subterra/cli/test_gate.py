"""`subterra gate`: suites checked before pytest starts, `--against` errors, no test file needed
(what `--against` prints is `tests/gate/against/test_preview.py`)."""

from __future__ import annotations

from pathlib import Path

from subterra.cli import main


def test_against_an_unknown_ref_is_a_clear_error(travel_repo: Path, capsys) -> None:
    assert main(["gate", str(travel_repo / "edits.gate.yaml"), "--against", "no-such-ref"]) == 2
    assert "no-such-ref" in capsys.readouterr().out


def test_a_broken_suite_is_one_line_before_pytest_starts(travel_repo: Path, capsys) -> None:
    suite = travel_repo / "edits.gate.yaml"
    suite.write_text(suite.read_text().replace("n: 6", "n: 1000000000").replace("name: edits", "name: ../../x"))
    assert main(["gate", str(suite), "--collect-only"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith(f"error: {suite}:") for line in lines), lines
    assert "must be a plain file name" in lines[0] and "procedures.0.n: " in lines[1]


def test_a_suite_needs_no_test_gate_py_beside_it(travel_repo: Path) -> None:
    import subprocess
    import sys

    assert not (travel_repo / "test_gate.py").exists()
    done = subprocess.run([sys.executable, "-m", "subterra.cli", "gate", "edits.gate.yaml", "--collect-only"],
                          cwd=travel_repo, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "test_conversation[" in done.stdout and "tests collected" in done.stdout
    assert not (travel_repo / "reports").exists()        # collecting writes nothing


def test_trials_collect_one_test_per_scenario_and_trial(travel_repo: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "subterra.cli", "gate", "edits.gate.yaml", "--collect-only",
                           "--conditions", "langgraph", "--n", "2", "--trials", "2"],
                          cwd=travel_repo, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for i in range(2):
        for t in range(2):
            assert f"langgraph/scenario-{i:03d}/trial-{t}]" in done.stdout
