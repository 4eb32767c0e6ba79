"""The deploy path as a user runs it: export, serve (until Ctrl-C), run against the endpoint."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from subterra.cli import main
from tests.conftest import ROOT, process_alive

MICRO = ["--recipe", "tiny-cpu", "--n", "12", "--set", "epochs=1", "--set", "model.scratch.hidden_size=64",
         "--set", "model.scratch.intermediate_size=128", "--set", "model.scratch.num_layers=1",
         "--set", "model.scratch.vocab_size=512"]



def _wait_for_line(process: subprocess.Popen[str], pattern: str, timeout_s: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout_s
    seen = []
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if match := re.search(pattern, line):
            return match
    raise AssertionError(f"no line matching {pattern!r}; output:\n{''.join(seen)}")


def _as_from_a_terminal() -> None:
    # A shell's background job (and so a test run started in one) ignores SIGINT, and a child
    # inherits that; at a terminal Ctrl-C is not ignored.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_export_serve_and_gate_the_endpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            stop: signal.Signals) -> None:
    zoom = str(ROOT / "procedures/zoom.yaml")
    out = tmp_path / "export"
    assert main(["export", zoom, *MICRO, "--store", str(tmp_path / "store"), "--out", str(out)]) == 0
    assert f"serve it: subterra serve {out}" in capsys.readouterr().out

    serve = subprocess.Popen([sys.executable, "-m", "subterra.cli", "serve", str(out), "--engine", "transformers",
                              "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env={**os.environ, "COLUMNS": "400"}, preexec_fn=_as_from_a_terminal)
    server_pid: int | None = None
    try:
        server_pid = int(_wait_for_line(serve, r"serving .* \(pid (\d+),", 300)[1])
        url = _wait_for_line(serve, r"base URL: (\S+)", 10)[1]
        name = _wait_for_line(serve, r"model:\s+(\S+)", 10)[1]
        assert name == str(out.resolve())
        transcripts = tmp_path / "served.jsonl"
        assert main(["run", zoom, "--condition", "subterranean", "--model", f"openai-compatible:{url}:{name}",
                     "--system-prompt", str(out / "system_prompt.txt"), "--n", "2", "--max-turns", "4",
                     "--out", str(transcripts)]) == 0
        rows = [json.loads(line) for line in transcripts.read_text().splitlines()]
        assert [r["agent_model"] for r in rows] == [name, name]
        assert all(r["agent_usage"]["calls"] >= 1 for r in rows)
    finally:
        serve.send_signal(stop)
        try:
            said, _ = serve.communicate(timeout=60)    # drained: a full pipe must not hold it up
        except subprocess.TimeoutExpired:
            serve.kill()
            said, _ = serve.communicate()
            if server_pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(server_pid, signal.SIGKILL)     # its model server, in a session of its own
            raise AssertionError(f"`subterra serve` did not stop within 60 s of {stop.name}; it said:\n{said}") from None
    assert serve.returncode == 130 and server_pid is not None and not process_alive(server_pid), said


def test_the_gate_it_line_names_the_procedure_file_not_its_name(tmp_path: Path) -> None:
    # Seen serving an export of procedures/travel.yaml (name travel_booking): the hint said
    # `subterra run procedures/travel_booking.yaml`, a file that does not exist.
    from subterra.cli.deploy import _procedure_hint

    procedures = tmp_path / "procedures"
    procedures.mkdir()
    (procedures / "travel.yaml").write_text((ROOT / "procedures/travel.yaml").read_text())
    (procedures / "broken.yaml").write_text("name: [unclosed\n")
    export = tmp_path / "export"
    export.mkdir()
    (export / "subterra.json").write_text(json.dumps({"procedure": "travel_booking"}))
    assert _procedure_hint(export, procedures) == str(procedures / "travel.yaml")
    (export / "subterra.json").write_text(json.dumps({"procedure": "no_such_procedure"}))
    assert _procedure_hint(export, procedures) == "PROCEDURE"
    assert _procedure_hint(tmp_path / "not-an-export", procedures) == "PROCEDURE"
