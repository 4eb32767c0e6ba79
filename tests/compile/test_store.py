from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel

from compile.store import MANIFEST, Store, fingerprint
from harness.files import store_root


def test_fingerprint_is_canonical_and_content_sensitive() -> None:
    a = fingerprint(procedure={"nodes": ["greet", "ask"], "name": "travel"}, seeds=[42], version="0.1.0")
    b = fingerprint(version="0.1.0", seeds=[42], procedure={"name": "travel", "nodes": ["greet", "ask"]})
    assert a == b and len(a) == 64
    assert a != fingerprint(procedure={"nodes": ["ask", "greet"], "name": "travel"}, seeds=[42], version="0.1.0")
    assert a != fingerprint(procedure={"nodes": ["greet", "ask"], "name": "travel"}, seeds=[43], version="0.1.0")
    assert fingerprint(x=1) != fingerprint(x=1.5) != fingerprint(x="1")

    class Recipe(BaseModel):
        lr: float

    assert fingerprint(recipe=Recipe(lr=2e-5)) == fingerprint(recipe={"lr": 2e-5})
    with pytest.raises(TypeError, match="cannot fingerprint"):
        fingerprint(x=object())
    with pytest.raises(ValueError):
        fingerprint(x=math.nan)


def test_second_call_reuses_the_artifact(tmp_path) -> None:
    store = Store(tmp_path)
    calls: list[Path] = []

    class Summary(BaseModel):
        eval_loss: list[float]

    def build(out: Path) -> Summary:
        calls.append(out)
        (out / "weights.bin").write_bytes(b"w")
        return Summary(eval_loss=[2.0, 1.5])

    fp = fingerprint(kind="model", recipe="tiny-cpu")
    first = store.get_or_create("model", fp, build, parts={"recipe": "tiny-cpu"})
    second = store.get_or_create("model", fp, build)
    assert first == second == tmp_path / "model" / fp and len(calls) == 1
    assert calls[0] != first                                    # built elsewhere, then renamed into place
    assert (first / "weights.bin").read_bytes() == b"w"
    manifest = store.manifest("model", fp)
    assert manifest.fingerprint == fp and manifest.parts == {"recipe": "tiny-cpu"}
    assert manifest.result == {"eval_loss": [2.0, 1.5]} and manifest.build_seconds >= 0 and not manifest.resumed
    assert not (tmp_path / "model" / ".partial" / fp).exists()


def test_a_failed_build_publishes_nothing_and_the_next_one_resumes(tmp_path) -> None:
    store = Store(tmp_path)
    fp = fingerprint(x=1)

    def crash(out: Path) -> None:
        (out / "journal").write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        store.get_or_create("dataset", fp, crash)
    assert not store.exists("dataset", fp)

    def finish(out: Path) -> None:
        assert (out / "journal").read_text() == "half"          # the earlier attempt's work is there
        (out / "journal").write_text("whole")

    path = store.get_or_create("dataset", fp, finish)
    assert (path / "journal").read_text() == "whole" and store.manifest("dataset", fp).resumed


def test_bad_names_are_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="kind"):
        Store(tmp_path).get_or_create("../x", fingerprint(x=1), lambda out: None)
    with pytest.raises(ValueError, match="hex"):
        Store(tmp_path).get_or_create("model", "../../etc", lambda out: None)
    with pytest.raises(FileNotFoundError, match="no complete"):
        Store(tmp_path).manifest("model", fingerprint(x=1))


def test_root_comes_from_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SUBTERRA_STORE", str(tmp_path / "s"))
    assert Store().root == tmp_path / "s" == store_root()
    monkeypatch.delenv("SUBTERRA_STORE")
    monkeypatch.chdir(tmp_path)
    assert Store().root == tmp_path / ".subterra/store"      # absolute: builders get absolute paths


WORKER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from compile.store import Store
    root, fp, log = sys.argv[1], sys.argv[2], Path(sys.argv[3])

    def build(out):
        with log.open("a") as f:
            f.write(f"{os.getpid()}\\n")
        time.sleep(1.0)                     # long enough for the other process to arrive and wait
        (out / "artifact").write_text("built once")

    print(Store(root).get_or_create("dataset", fp, build))
""")


def test_concurrent_processes_build_once_and_share_the_result(tmp_path) -> None:
    fp, log = fingerprint(x="shared"), tmp_path / "builds.log"
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path / "store"), fp, str(log)],
                              stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    assert len(log.read_text().split()) == 1                     # one build among three processes
    assert len(set(outputs)) == 1 and (Path(outputs[0]) / "artifact").read_text() == "built once"
    assert json.loads((Path(outputs[0]) / MANIFEST).read_text())["fingerprint"] == fp
