"""Stopping a process that leads its own process group, and everything in that group.

Every server here (and the command `python -m harness.servers.vendor_apis` runs) starts in a
group of its own, so one signal reaches the workers it started too (uvicorn's, vLLM's,
pytest-xdist's) and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

__all__ = ["stop_group"]


def stop_group(leader: subprocess.Popen[bytes], signum: int = signal.SIGTERM, grace_s: float = 15.0) -> None:
    """Send `signum` to the leader's process group, give it `grace_s` to end, then SIGKILL
    whatever is left of the group (workers included) and reap the leader.

    Call it only while the leader is unreaped: until then the group id is still ours."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader.pid, signum)
    with contextlib.suppress(subprocess.TimeoutExpired):
        leader.wait(timeout=grace_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader.pid, signal.SIGKILL)
    leader.wait()
