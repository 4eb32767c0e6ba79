from __future__ import annotations

import json
import subprocess
import sys

from subterra.cli import main


def test_validate_prints_statistics(mini_path, capsys) -> None:
    assert main(["validate", str(mini_path)]) == 0
    out = capsys.readouterr().out
    assert "mini_booking" in out and "5–7" in out


def test_paths_count_and_sample(mini_path, capsys) -> None:
    assert main(["paths", str(mini_path), "--count"]) == 0
    assert "4 paths, 5–7 turns" in capsys.readouterr().out
    assert main(["paths", str(mini_path), "--sample", "3", "--seed", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("greet → ") for line in lines)


def test_render_writes_file(mini_path, tmp_path) -> None:
    out = tmp_path / "p.dot"
    assert main(["render", str(mini_path), "--format", "dot", "-o", str(out)]) == 0
    assert out.read_text().startswith("digraph")


def test_schema_is_json(capsys) -> None:
    assert main(["schema", "scenarios"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "subterra scenario set"


def test_missing_file_is_a_clean_error(tmp_path, capsys) -> None:
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read file" in capsys.readouterr().err


def test_console_script_help_runs() -> None:
    done = subprocess.run([sys.executable, "-m", "subterra.cli", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for name in ("validate", "paths", "render", "diff", "schema"):
        assert name in done.stdout
