"""Wall time of `subterra gate --against REF` against a full gate, on the same edit.

    .venv/bin/python benchmarks/against_gate.py [--n 12]

In a scratch git repository (travel, four conditions, offline models, the tiny-cpu recipe
shrunk as in the plugin tests): a baseline gate at HEAD fills the compile store, the
conversation pool and the results store; then one node's prompt is edited and the gate
runs twice on the edited checkout:

- `--against HEAD`, with the baseline's `.subterra` (what CI keeps between runs): the
  recompile reuses the conversations the edit did not touch, HEAD's results come from the
  results store, orchestrated and langgraph conversations clear of the edit are reused;
- a full gate from empty stores, as any edit cost before.

Prints both wall times and their ratio; both runs share the machine with whatever else
runs, so only the ratio, measured in the same run, means something.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUBTERRA = Path(sys.executable).with_name("subterra")
SUITE = """
name: bench
procedures:
  - {{procedure: ../procedures/travel.yaml, scenarios: ../scenarios/travel.yaml, n: {n}, seed: 7}}
conditions: [subterranean, orchestrated, langgraph, in_context]
compile:
  recipe: tiny-cpu
  n: 60
  overrides: {{"model.scratch.hidden_size": 64, "model.scratch.intermediate_size": 128,
              "model.scratch.num_layers": 1, "model.scratch.vocab_size": 512, "epochs": 4}}
models: {{generator: offline, user: offline, frontier: offline, base: offline, judges: [offline]}}
thresholds:
  per_conversation: {{conditions: []}}
"""


def sh(repo: Path, *args: str, store: Path) -> float:
    started = time.perf_counter()
    env = {**os.environ, "SUBTERRA_STORE": str(store)}
    done = subprocess.run([str(SUBTERRA), "gate", "test_suites/bench.gate.yaml", *args], cwd=repo, env=env,
                          capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=12)
    n = parser.parse_args().n
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        for rel in ("procedures/travel.yaml", "scenarios/travel.yaml", "test_suites/test_gate.py"):
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / rel, repo / rel)
        (repo / "test_suites/bench.gate.yaml").write_text(SUITE.format(n=n))
        (repo / ".gitignore").write_text(".subterra/\nreports/\n")
        for cmd in (["init", "-q"], ["add", "."], ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q",
                                                   "-m", "baseline"]):
            subprocess.run(["git", "-C", str(repo), *cmd], check=True)
        baseline = sh(repo, store=repo / ".subterra/store")

        path = repo / "procedures/travel.yaml"
        text = path.read_text()
        old = "prompt: Confirm that the agent should book the trip."
        assert old in text
        path.write_text(text.replace(old, "prompt: Confirm the booking, and ask for the receipt by email.", 1))
        against = sh(repo, "--against", "HEAD", store=repo / ".subterra/store")

        shutil.rmtree(repo / ".subterra")
        full = sh(repo, store=repo / ".subterra/store")
    print(f"travel, n={n}, 4 conditions, offline, tiny-cpu (shrunk); edit: one prompt (confirm_booking)")
    print(f"baseline gate at HEAD:            {baseline:7.1f} s")
    print(f"--against HEAD on the edit:       {against:7.1f} s")
    print(f"full gate on the edit (no stores): {full:6.1f} s")
    print(f"ratio --against / full: {against / full:.2f} (same run, shared CPU: only the ratio is meaningful)")


if __name__ == "__main__":
    main()
