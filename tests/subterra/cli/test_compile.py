from __future__ import annotations

import pytest

from subterra.cli import console, main
from tests.conftest import ROOT

TINY = ["--recipe", "tiny-cpu", "--n", "12", "--set", "epochs=1", "--set", "model.scratch.hidden_size=64",
        "--set", "model.scratch.intermediate_size=128", "--set", "model.scratch.num_layers=1",
        "--set", "model.scratch.vocab_size=512"]


@pytest.mark.slow
def test_compile_reports_stages_and_second_run_reuses_everything(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(console, "width", 200)   # one table row per line
    args = ["compile", str(ROOT / "procedures/travel.yaml"), "--store", str(tmp_path), *TINY]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "data generation" in first and "fine-tuning" in first and "steps" in first
    assert "reused from store" not in first and "0 reused" in first     # no stage, no conversation
    assert main(args) == 0
    second = capsys.readouterr().out
    assert "reused from store (12 conversations, 0 LLM calls)" in second
    assert "reused from store (0 training steps)" in second


def test_bad_override_is_a_clean_error(tmp_path, capsys) -> None:
    args = ["compile", str(ROOT / "procedures/travel.yaml"), "--store", str(tmp_path), "--set", "epochs"]
    assert main(args) == 2
    assert "key=value" in capsys.readouterr().err
