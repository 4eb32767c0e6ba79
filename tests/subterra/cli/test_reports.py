"""The report-summary commands (`actions`, `handling`) read report.json files through one path."""

from __future__ import annotations

import json
from pathlib import Path

from subterra.cli import EXIT_INPUT_ERROR, main

ACTED = {"condition": "subterranean", "n": 4, "end_state_matches": 3, "tool_steps": 6, "correct_steps": 5,
         "action_correct": 2, "extra_calls": 1,
         "steps": [{"node": "verify", "tool": "verify_identity", "correct": 4, "total": 4, "right_tool": 4,
                    "right_arguments": 4, "right_point": 4}]}


def _report(folder: Path, actions: list[dict]) -> Path:
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps({"run_name": "demo", "procedures": [
        {"procedure": {"name": "card_dispute"}, "offline": True, "actions": actions,
         "handling": {"subterranean": {"tool_errors": 2}}}]}))
    return folder


def test_actions_prints_each_condition_and_tool_step(tmp_path: Path, capsys) -> None:
    assert main(["actions", str(_report(tmp_path / "demo", [ACTED]))]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "demo / card_dispute (offline models played a part)"
    assert out[1].split()[:9] == ["subterranean", "end-state", "match", "3/4", "(75", "%),", "tool-call", "accuracy",
                                    "5/6"]
    assert "extra calls 1" in out[1] and out[1].endswith("tool errors 2")
    assert out[2].split()[:4] == ["verify", "verify_identity", "correct", "4/4"]


def test_a_report_without_tools_says_so_and_a_broken_one_is_an_input_error(tmp_path: Path, capsys) -> None:
    assert main(["actions", str(_report(tmp_path / "talk", []))]) == 0
    assert capsys.readouterr().out.strip() == "no procedure with tools in these reports"
    (tmp_path / "broken.json").write_text("{not json")
    assert main(["actions", str(tmp_path / "broken.json")]) == EXIT_INPUT_ERROR
    assert "not a readable report.json" in capsys.readouterr().err
