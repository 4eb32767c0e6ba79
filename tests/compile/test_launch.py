"""The recipe's launcher: the commands it builds (parsed by accelerate's and torchrun's own
parsers), and two CPU processes really training through it (DDP over gloo), failing in one
rank, and resuming. Kept small: the toy data, a micro model, a few steps."""

from __future__ import annotations

import sys

import pytest
import torch
from accelerate.commands.launch import launch_command_parser
from safetensors.torch import load_file
from torch.distributed.run import get_args_parser

from compile.launch import (
    FAILED_SUFFIX,
    RECIPE_FILE,
    LaunchError,
    Rendezvous,
    TrainingFailed,
    build_launch_command,
    launch,
    launch_environment,
    parse_main_process,
)
from compile.recipe import load_recipe
from compile.train import FAULT_ENV, train
from harness.transcript import write_jsonl

from .conftest import MICRO_MODEL


def _where(tmp_path) -> dict:
    return {"data_dir": tmp_path / "data", "system_prompt": "You are a helpful travel booking assistant.",
            "out_dir": tmp_path / "out"}


def _program(tmp_path) -> list[str]:
    return ["-m", "compile.train", "--recipe", str(tmp_path / "out" / RECIPE_FILE), "--data", str(tmp_path / "data"),
            "--system-prompt", "You are a helpful travel booking assistant.", "--out", str(tmp_path / "out")]


def test_launch_commands_parse_as_accelerate_and_torchrun_arguments(tmp_path) -> None:
    where, program = _where(tmp_path), _program(tmp_path)

    zero3 = build_launch_command(load_recipe("qwen3-8b"), **where)
    assert zero3[:3] == [sys.executable, "-m", "accelerate.commands.launch"] and zero3[-len(program):] == program
    args = launch_command_parser().parse_args(zero3[3:])
    assert (args.num_processes, args.num_machines, args.mixed_precision, args.use_deepspeed, args.module) == \
        (8, 1, "bf16", True, True)
    assert args.main_process_port == 0           # a free port: two compiles on one machine never collide
    assert args.deepspeed_config_file.endswith("compile/recipes/zero3.json") and args.zero3_init_flag == "true"
    assert (args.training_script, args.training_script_args[:2]) == ("compile.train", ["--recipe", program[3]])

    ddp = build_launch_command(load_recipe("qwen2.5-3b", {"processes": 2}), **where)
    assert ddp[:3] == [sys.executable, "-m", "torch.distributed.run"]
    args = get_args_parser().parse_args(ddp[3:])
    assert (args.nproc_per_node, args.standalone, args.module, args.training_script) == ("2", True, True, "compile.train")

    assert build_launch_command(load_recipe("tiny-cpu"), **where) == [sys.executable, *program]
    assert launch_environment(load_recipe("tiny-cpu")) == {}       # one process: trains in the caller's


def test_two_machines_get_their_rank_and_the_main_address(tmp_path) -> None:
    where = _where(tmp_path)
    rank1 = Rendezvous(machine_rank=1, main_ip="10.0.0.1", main_port=29501)
    two_nodes = build_launch_command(load_recipe("qwen3-8b", {"machines": 2}), rendezvous=rank1, **where)
    args = launch_command_parser().parse_args(two_nodes[3:])
    assert (args.num_processes, args.num_machines, args.machine_rank) == (16, 2, 1)
    assert (args.main_process_ip, args.main_process_port, args.deepspeed_multinode_launcher) == \
        ("10.0.0.1", 29501, "standard")
    torchrun = build_launch_command(load_recipe("qwen2.5-3b", {"processes": 8, "machines": 2}), rendezvous=rank1,
                                    **where)
    args = get_args_parser().parse_args(torchrun[3:])
    assert (args.nnodes, args.node_rank, args.nproc_per_node, args.master_addr, args.master_port) == \
        ("2", 1, "8", "10.0.0.1", 29501)
    assert not args.standalone
    assert load_recipe("qwen3-8b", {"machines": 2}).effective_batch == 64

    with pytest.raises(LaunchError, match="give the main process's address"):
        build_launch_command(load_recipe("qwen3-8b", {"machines": 2}), **where)
    with pytest.raises(LaunchError, match="out of range"):
        build_launch_command(load_recipe("qwen3-8b", {"machines": 2}),
                             rendezvous=Rendezvous(machine_rank=2, main_ip="h"), **where)
    assert parse_main_process("node0") == ("node0", 29500) and parse_main_process("10.0.0.1:1234") == ("10.0.0.1", 1234)
    with pytest.raises(LaunchError):
        parse_main_process("node0:http")


def test_cpu_recipes_share_the_cores_and_hide_gpus() -> None:
    env = launch_environment(load_recipe("tiny-cpu-zero3"))
    assert env["DS_ACCELERATOR"] == "cpu" and env["CUDA_VISIBLE_DEVICES"] == "" and int(env["OMP_NUM_THREADS"]) >= 1
    assert launch_environment(load_recipe("qwen3-8b")) == {}


def test_shipped_two_process_recipes_keep_tiny_cpus_global_batch() -> None:
    one = load_recipe("tiny-cpu")
    for name in ("tiny-cpu-ddp", "tiny-cpu-zero3"):
        two = load_recipe(name)
        assert (two.world_size, two.device, two.effective_batch) == (2, "cpu", one.effective_batch)
        assert two.model == one.model and two.lr == one.lr and two.epochs == one.epochs
    assert load_recipe("tiny-cpu-zero3").deepspeed_config()["zero_optimization"]["stage"] == 3
    with pytest.raises(Exception, match="needs a launcher"):
        load_recipe("tiny-cpu", {"processes": 2})


# --- two CPU processes, really launched ------------------------------------------------------

@pytest.fixture
def toy_data(tmp_path, toy_train, toy_eval):
    write_jsonl(tmp_path / "data" / "train.jsonl", toy_train)
    write_jsonl(tmp_path / "data" / "eval.jsonl", toy_eval)
    return tmp_path / "data"


def _micro(name: str, **overrides):
    # toy-sized: 4 conversations per step in all, 12 steps, resume points every 3
    base = {"model.scratch": MICRO_MODEL, "max_seq_len": 512, "lr": 1e-2, "epochs": 1,
            "early_stopping_patience": None, "eval_every_steps": 3,
            "per_device_batch": 4 // load_recipe(name).world_size}
    return load_recipe(name, {**base, **overrides})


@pytest.mark.slow
def test_two_processes_fail_by_rank_then_resume_and_match_one_process(
        toy_data, toy_train, toy_eval, system_prompt, tmp_path, monkeypatch) -> None:
    recipe = _micro("tiny-cpu-ddp")
    out = tmp_path / "ddp"
    monkeypatch.setenv(FAULT_ENV, "1:7")            # rank 1 dies after step 7 (resume point at 6)
    with pytest.raises(TrainingFailed, match=r"(?s)training failed in rank 1 of 2 .*fault injected.*rank1\.log"):
        launch(recipe, toy_data, system_prompt, out)
    assert (out / "logs" / f"rank1{FAILED_SUFFIX}").is_file() and (out / "state" / "complete").is_file()

    monkeypatch.delenv(FAULT_ENV)
    resumed = launch(recipe, toy_data, system_prompt, out)
    assert (resumed.processes, resumed.steps, resumed.resumed_from_step) == (2, 12, 6)
    assert not list((out / "logs").glob(f"*{FAILED_SUFFIX}")) and not (out / "state").exists()

    # The same global batch in one process: the same curve, within float noise.
    one = train(_micro("tiny-cpu"), toy_train, toy_eval, system_prompt=system_prompt, out_dir=tmp_path / "one")
    assert [p.step for p in resumed.curve] == [p.step for p in one.curve]
    assert [p.eval_loss for p in resumed.curve] == pytest.approx([p.eval_loss for p in one.curve], rel=1e-3)
    assert resumed.train_tokens == one.train_tokens
    a, b = load_file(out / "best" / "model.safetensors"), load_file(tmp_path / "one" / "best" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-3) for k in a)
