"""Errors print as written: no rich markup or emoji codes in paths or messages."""

from __future__ import annotations

import shutil
from pathlib import Path

from subterra.cli import main


def test_error_on_line_100_keeps_its_line_number(tmp_path: Path, mini_text: str, capsys) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text(mini_text + "\n" * (99 - mini_text.count("\n")) + "bogus: 1\n")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:100: " in err and "💯" not in err


def test_markup_like_path_prints_verbatim(tmp_path: Path, mini_path: Path, capsys) -> None:
    odd = tmp_path / "a[/x]" / "[bold]p.yaml"
    odd.parent.mkdir(parents=True)
    shutil.copy(mini_path, odd)
    scen = odd.parent / "s.yaml"
    scen.write_text("procedure: mini_booking\n")
    assert main(["validate", str(odd), str(scen)]) in (0, 2)
    out = capsys.readouterr()
    assert "Traceback" not in out.err and str(scen) in out.out
    odd.write_text(odd.read_text() + "bogus: 1\n")
    assert main(["validate", str(odd)]) == 2
    assert f"error: {odd}:" in capsys.readouterr().err
