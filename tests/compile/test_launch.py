from __future__ import annotations

import sys

from accelerate.commands.launch import launch_command_parser
from torch.distributed.run import get_args_parser

from compile.launch import RECIPE_FILE, build_launch_command
from compile.recipe import load_recipe


def test_launch_commands_parse_as_accelerate_and_torchrun_arguments(tmp_path) -> None:
    where = {"data_dir": tmp_path / "data", "system_prompt": "You are a helpful travel booking assistant.",
             "out_dir": tmp_path / "out"}
    program = ["-m", "compile.train", "--recipe", str(tmp_path / "out" / RECIPE_FILE), "--data", str(tmp_path / "data"),
               "--system-prompt", where["system_prompt"], "--out", str(tmp_path / "out")]

    zero3 = build_launch_command(load_recipe("qwen3-8b"), **where)
    assert zero3[:3] == [sys.executable, "-m", "accelerate.commands.launch"] and zero3[-len(program):] == program
    args = launch_command_parser().parse_args(zero3[3:])
    assert (args.num_processes, args.mixed_precision, args.use_deepspeed, args.module) == (8, "bf16", True, True)
    assert args.deepspeed_config_file.endswith("compile/recipes/zero3.json")
    assert (args.training_script, args.training_script_args[:2]) == ("compile.train", ["--recipe", program[3]])

    single = build_launch_command(load_recipe("qwen2.5-3b", {"gpus": 2}), **where)
    assert single[:3] == [sys.executable, "-m", "torch.distributed.run"]
    args = get_args_parser().parse_args(single[3:])
    assert (args.nproc_per_node, args.standalone, args.module, args.training_script) == ("2", True, True, "compile.train")

    assert build_launch_command(load_recipe("tiny-cpu"), **where) == [sys.executable, *program]
