"""Stopping a process group: the leader and every worker it started, even one that ignores
the polite signal."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.servers.processes import stop_group
from tests.conftest import process_alive

# A leader that starts a worker, writes both pids, and ignores SIGTERM (as a stuck server may).
LEADER = ("import os, signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
          "w = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); "
          "open(sys.argv[1], 'w').write(f'{os.getpid()} {w.pid}'); time.sleep(300)")


def _started(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    pids = tmp_path / "pids"
    leader = subprocess.Popen([sys.executable, "-c", LEADER, str(pids)], start_new_session=True)
    deadline = time.monotonic() + 30
    while not pids.exists() or len(pids.read_text().split()) < 2:
        assert leader.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    return leader, int(pids.read_text().split()[1])


def _gone(pid: int, within_s: float = 10) -> bool:
    # A killed worker is not our child: it ends (and its new parent reaps it) a moment later.
    deadline = time.monotonic() + within_s
    while process_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_the_whole_group_ends_even_when_it_ignores_the_signal(tmp_path: Path) -> None:
    leader, worker = _started(tmp_path)
    started = time.monotonic()
    stop_group(leader, signal.SIGTERM, grace_s=0.5)
    assert leader.returncode == -signal.SIGKILL and time.monotonic() - started < 10
    assert not process_alive(leader.pid) and _gone(worker)


def test_a_leader_that_obeys_ends_with_the_signal_it_got(tmp_path: Path) -> None:
    leader, worker = _started(tmp_path)
    stop_group(leader, signal.SIGINT, grace_s=10)      # SIGINT is not ignored: KeyboardInterrupt
    assert leader.returncode != 0 and _gone(worker)
