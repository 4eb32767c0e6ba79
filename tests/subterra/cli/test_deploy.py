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
        assert name == "zoom_support"             # the procedure's name, as clients ask for it
        gate_it = _wait_for_line(serve, r"gate it:\s+subterra run (\S+) ", 10)[1]
        assert Path(gate_it).resolve() == Path(zoom).resolve()   # the file it came from, which exists
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


def test_the_gate_it_line_names_the_procedures_own_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from subterra.cli.deploy import _procedure_file

    monkeypatch.chdir(tmp_path)
    (tmp_path / "procedures").mkdir()
    (tmp_path / "procedures/travel.yaml").write_text("name: travel_booking\n")
    # What the export recorded, not a guess from the procedure's name (procedures/travel_booking.yaml).
    assert _procedure_file({"procedure": "travel_booking", "source": "procedures/travel.yaml"}) == \
        "procedures/travel.yaml"
    # Gone, or an export from before the field: a placeholder, never a file that does not exist.
    assert _procedure_file({"procedure": "travel_booking", "source": "elsewhere/travel.yaml"}) == "PROCEDURE.yaml"
    assert _procedure_file({"procedure": "travel_booking"}) == "PROCEDURE.yaml"


def test_serve_passes_the_chosen_name_or_the_procedures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import harness.servers.model_server as model_server

    asked: list[str | None] = []

    class Refusing:      # records what `subterra serve` asks for, then fails to start
        def __init__(self, folder: Path, *, served_name: str | None = None, **_: object) -> None:
            asked.append(served_name)

        def __enter__(self) -> None:
            raise model_server.ServingError("not starting in this test")

        def __exit__(self, *_: object) -> None:
            pass

    monkeypatch.setattr(model_server, "ModelServer", Refusing)
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "subterra.json").write_text(json.dumps({"procedure": "travel_booking"}))
    assert main(["serve", str(folder)]) == 1
    assert main(["serve", str(folder), "--served-model-name", "acme/travel-v2"]) == 1
    assert asked == ["travel_booking", "acme/travel-v2"]
    assert "not starting in this test" in capsys.readouterr().err
