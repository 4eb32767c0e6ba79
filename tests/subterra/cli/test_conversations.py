from __future__ import annotations

import builtins

import pytest

from harness.transcript import Transcript, read_jsonl
from subterra.cli import console, main
from tests.conftest import ROOT


def _run(tmp_path, name: str, *extra: str) -> list[Transcript]:
    out = tmp_path / name
    args = ["run", str(ROOT / "procedures/zoom.yaml"), "--condition", "langgraph", "--n", "4", "--out", str(out)]
    assert main([*args, *extra]) == 0
    return read_jsonl(out, Transcript)


def test_run_writes_one_transcript_per_scenario_and_is_deterministic(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(console, "width", 200)
    first, second = _run(tmp_path, "a.jsonl"), _run(tmp_path, "b.jsonl")
    assert [t.scenario_index for t in first] == [0, 1, 2, 3]
    assert all(t.condition == "langgraph" and t.turns and t.agent_model == "offline" for t in first)
    strip = [{**t.model_dump(), "wall_clock_s": 0} for t in first]
    assert strip == [{**t.model_dump(), "wall_clock_s": 0} for t in second]
    out = capsys.readouterr().out
    assert "offline models played a part" in out and "routing calls" in out


def test_run_rejects_an_unknown_condition(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", str(ROOT / "procedures/zoom.yaml"), "--condition", "frontier"])
    assert exc.value.code == 2
    assert "invalid choice: 'frontier'" in capsys.readouterr().err


def test_chat_lets_a_person_reach_a_terminal(capsys, monkeypatch) -> None:
    """Typed as the customer: the orchestrated condition (offline model) follows the
    flowchart to the 'resolved' terminal when the customer says the fix worked."""
    said = iter(["Hi, my audio does not work: I can't hear anyone else in meetings.",
                 "I tested it: that fixed it! Everything works now, thank you so much."] + ["/quit"] * 10)
    monkeypatch.setattr(builtins, "input", lambda _prompt="": next(said))
    assert main(["chat", str(ROOT / "procedures/zoom.yaml"), "--condition", "orchestrated",
                 "--model", "offline"]) == 0
    out = capsys.readouterr().out
    assert out.count("agent:") >= 2
    assert "(the procedure ended at 'resolved')" in out
