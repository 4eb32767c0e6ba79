"""Train under a recipe's launcher: `processes` per machine (one per GPU, or CPU processes over
gloo) on `machines` machines, started by `accelerate launch` or `torchrun`.

    argv, env = launch_command(recipe, data_dir=..., system_prompt=..., out_dir=...)
    print(shell_command(argv, env))     # DS_ACCELERATOR=cpu ... python -m torch.distributed.run ...
    result = launch(recipe, data_dir, system_prompt, out_dir)   # runs it, returns the TrainResult

The recipe travels to the processes as a JSON file in `out_dir`, so what runs is exactly the
recipe object the caller holds (overrides included). DeepSpeed is configured from the recipe
inside `compile.train` (an accelerate `DeepSpeedPlugin`), so torchrun and accelerate launch the
same program; the launcher only starts the processes and sets their rendezvous.

Every rank writes `out_dir/logs/rank<N>.log` (rank 0 also speaks on this terminal: progress
and log lines); a rank that fails leaves `rank<N>.failed` with its traceback, and `launch`
raises `TrainingFailed` naming that rank with the end of its log. The launcher runs in a
process group of its own: Ctrl-C or a terminate of this process stops every rank. A killed
run launched again into the same `out_dir` resumes from its last resume point (`state/`).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, Field

from compile.recipe import Recipe
from compile.training_result import TrainResult

__all__ = ["FAILED_SUFFIX", "LOGS_DIR", "RECIPE_FILE", "RESULT_FILE", "LaunchError", "Rendezvous", "TrainingFailed",
           "accelerate_mixed_precision", "build_launch_command", "check_rendezvous", "launch", "launch_command", "launch_environment",
           "parse_main_process", "shell_command"]

RECIPE_FILE = "recipe.json"
RESULT_FILE = "training.json"        # written by rank 0 (compile.train)
LOGS_DIR = "logs"
FAILED_SUFFIX = ".failed"            # logs/rank<N>.failed: that rank's traceback
DEFAULT_PORT = 29500
STOP_GRACE_S = 15.0                  # a terminated rank gets this long before SIGKILL


class Rendezvous(BaseModel):
    """Where this machine stands in a multi-machine run (not part of the recipe's fingerprint:
    every machine trains the same model)."""

    machine_rank: int = Field(default=0, ge=0)
    main_ip: str | None = None                 # machine 0's address, reachable from every machine
    main_port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)


class LaunchError(ValueError):
    """The recipe and this machine's place in the run do not fit (rank, address)."""


class TrainingFailed(RuntimeError):
    """A launched training run exited with an error; the message names the rank and its log."""


def parse_main_process(text: str) -> tuple[str, int]:
    """`"10.0.0.1:29500"` -> `("10.0.0.1", 29500)`; the port defaults to 29500."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = text, str(DEFAULT_PORT)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise LaunchError(f"the main process is HOST or HOST:PORT, got {text!r}")
    return host, int(port)


def check_rendezvous(recipe: Recipe, rendezvous: Rendezvous | None) -> Rendezvous:
    """This machine's place in `recipe`'s run; raises `LaunchError` when they do not fit."""
    rendezvous = rendezvous or Rendezvous()
    if recipe.machines == 1 and rendezvous.machine_rank != 0:
        raise LaunchError(f"machine rank {rendezvous.machine_rank} given, but recipe {recipe.name!r} trains on one machine")
    if recipe.machines > 1:
        if rendezvous.machine_rank >= recipe.machines:
            raise LaunchError(f"machine rank {rendezvous.machine_rank} is out of range for {recipe.machines} machines")
        if not rendezvous.main_ip:
            raise LaunchError(f"recipe {recipe.name!r} trains on {recipe.machines} machines: give the main process's "
                             "address (machine 0's HOST:PORT), e.g. --main-process 10.0.0.1:29500")
    return rendezvous


def accelerate_mixed_precision(recipe: Recipe) -> str:
    """What compile.train asks accelerate for, and what the launch command says: bf16 for a
    DeepSpeed recipe with bf16 weights, else "no" (a CPU recipe's bf16 autocast is the
    trainer's own, not accelerate's)."""
    return "bf16" if recipe.deepspeed is not None and recipe.model.dtype == "bfloat16" else "no"


def launch_environment(recipe: Recipe) -> dict[str, str]:
    """Variables the launcher and its ranks need beyond this process's environment."""
    if recipe.device != "cpu" or recipe.world_size == 1:
        return {}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return {
        "CUDA_VISIBLE_DEVICES": "",            # a CPU recipe's ranks see no GPU, even on a GPU machine
        "DS_ACCELERATOR": "cpu",               # DeepSpeed's CPU accelerator (gloo without oneCCL)
        "OMP_NUM_THREADS": str(max(1, cores // recipe.processes)),   # the cores, shared out
    }


def build_launch_command(recipe: Recipe, *, data_dir: Path, system_prompt: str, out_dir: Path,
                         rendezvous: Rendezvous | None = None, python: str = sys.executable) -> list[str]:
    """The argv that trains `recipe` on `data_dir` (train.jsonl, eval.jsonl) into `out_dir`."""
    program = ["-m", "compile.train", "--recipe", str(Path(out_dir) / RECIPE_FILE), "--data", str(data_dir),
               "--system-prompt", system_prompt, "--out", str(out_dir)]
    if recipe.launcher == "none":
        return [python, *program]
    where = check_rendezvous(recipe, rendezvous)
    if recipe.launcher == "torchrun":
        if recipe.machines == 1:      # a free port of its own: two compiles on one machine don't collide
            nodes = ["--standalone", "--nnodes", "1"]
        else:
            nodes = ["--nnodes", str(recipe.machines), "--node_rank", str(where.machine_rank),
                     "--master_addr", where.main_ip, "--master_port", str(where.main_port)]
        return [python, "-m", "torch.distributed.run", *nodes, "--nproc_per_node", str(recipe.processes), *program]
    argv = [python, "-m", "accelerate.commands.launch", "--num_processes", str(recipe.world_size),
            "--num_machines", str(recipe.machines)]
    if recipe.machines == 1:
        argv += ["--main_process_port", "0"]          # 0: accelerate picks a free port
    else:
        argv += ["--machine_rank", str(where.machine_rank), "--main_process_ip", where.main_ip,
                 "--main_process_port", str(where.main_port)]
    argv += ["--mixed_precision", accelerate_mixed_precision(recipe), "--dynamo_backend", "no"]
    if recipe.deepspeed_path is not None:
        stage = (recipe.deepspeed_config() or {})["zero_optimization"].get("stage", 0)
        argv += ["--use_deepspeed", "--deepspeed_config_file", str(recipe.deepspeed_path),
                 "--zero3_init_flag", "true" if stage == 3 else "false"]
        if recipe.machines > 1:      # torchrun on every machine, not pdsh from machine 0
            argv += ["--deepspeed_multinode_launcher", "standard"]
    elif recipe.world_size > 1:
        # accelerate's torchrun path; on `device: cpu` the ranks take gloo (its `--cpu` flag
        # would start one process, or need mpirun)
        argv += ["--multi_gpu"]
    return argv + program


def launch_command(recipe: Recipe, *, data_dir: Path, system_prompt: str, out_dir: Path,
                   rendezvous: Rendezvous | None = None) -> tuple[list[str], dict[str, str]]:
    """The argv and the extra environment of a launch: exactly what `launch` runs."""
    argv = build_launch_command(recipe, data_dir=data_dir, system_prompt=system_prompt, out_dir=out_dir,
                                rendezvous=rendezvous)
    return argv, launch_environment(recipe)


def shell_command(argv: list[str], env: dict[str, str]) -> str:
    """One line a shell runs as is: `VAR=value ... argv`."""
    return " ".join([*(f"{k}={shlex.quote(v)}" for k, v in env.items()), shlex.join(argv)])


def launch(recipe: Recipe, data_dir: Path, system_prompt: str, out_dir: Path, *,
           rendezvous: Rendezvous | None = None) -> TrainResult | None:
    """Train `recipe` in child processes and return the result rank 0 wrote (None on a machine
    other than machine 0, which only lends its processes). Raises `TrainingFailed`."""
    out_dir = Path(out_dir)
    logs = out_dir / LOGS_DIR
    logs.mkdir(parents=True, exist_ok=True)
    for stale in logs.glob(f"rank*{FAILED_SUFFIX}"):      # from an earlier, failed attempt
        stale.unlink()
    (out_dir / RECIPE_FILE).write_text(recipe.model_dump_json(indent=2), encoding="utf-8")
    argv, env = launch_command(recipe, data_dir=data_dir, system_prompt=system_prompt, out_dir=out_dir,
                               rendezvous=rendezvous)
    # Its own process group (session), so stopping it reaches every rank and nothing else; and
    # told to stop if this process dies without unwinding (SIGKILL), so no rank is orphaned.
    child = subprocess.Popen(argv, env={**os.environ, **env}, start_new_session=True,
                             preexec_fn=_terminate_with_parent)
    try:
        with _terminate_raises_interrupt():
            status = child.wait()
    except BaseException:
        _stop_group(child)
        raise
    if status != 0:
        raise TrainingFailed(_failure_message(logs, status, recipe.world_size, argv))
    result = out_dir / RESULT_FILE
    if not result.is_file():
        if (rendezvous or Rendezvous()).machine_rank > 0:
            return None
        raise TrainingFailed(f"training exited cleanly but wrote no {result}; rank logs: {logs}")
    return TrainResult.model_validate_json(result.read_text(encoding="utf-8"))


@contextlib.contextmanager
def _terminate_raises_interrupt() -> Iterator[None]:
    """A terminate (`kill`, CI cancelling the job) unwinds like Ctrl-C, so the ranks are stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminate_with_parent() -> None:
    """In the launcher, before exec: SIGTERM when its parent dies (Linux; torchrun then stops the ranks)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)     # PR_SET_PDEATHSIG


def _stop_group(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the launcher and every rank, SIGKILL to whatever outlives the grace."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=STOP_GRACE_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _failure_message(logs: Path, status: int, world: int, argv: list[str]) -> str:
    failed = sorted(logs.glob(f"rank*{FAILED_SUFFIX}"), key=lambda p: (p.stat().st_mtime, p.name))
    if not failed:   # no rank raised (killed from outside, out of memory, the launcher itself)
        return (f"training exited with status {status} and no rank reported an error; rank logs: {logs}\n"
                f"command: {shlex.join(argv)}")
    first = failed[0]                     # the others usually failed because it left
    rank = first.name.removeprefix("rank").removesuffix(FAILED_SUFFIX)
    log = logs / f"rank{rank}.log"
    also = [p.name.removesuffix(FAILED_SUFFIX) for p in failed[1:]]
    error = (_tail(first, 1) or "an error").strip()
    return (f"training failed in rank {rank} of {world} (exit status {status}): {error}"
            + (f" (then also {', '.join(also)})" if also else "")
            + f"\nits log, {log}, ends:\n{_tail(log)}")
