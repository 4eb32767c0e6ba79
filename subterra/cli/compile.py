"""`subterra compile`: the recompile cycle for one procedure, with each stage's time."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from harness.errors import SpecError
from subterra.cli import Command, command, console, err_console

if TYPE_CHECKING:
    from compile.launch import Rendezvous
    from compile.pipeline import CompiledModel
    from compile.settings import CompileSettings


def default_scenarios(procedure_path: Path) -> Path:
    """The scenario set of a procedure given without --scenarios: procedures/NAME.yaml →
    scenarios/NAME.yaml beside that folder, else NAME.scenarios.yaml or scenarios.yaml in the
    procedure's own folder (the layouts of the shipped files and the test fixtures)."""
    from harness.errors import SpecError

    here = procedure_path.parent
    tried = [here.parent / "scenarios" / procedure_path.name,
             here / f"{procedure_path.stem}.scenarios.yaml", here / "scenarios.yaml"]
    found = next((p for p in tried if p.is_file()), None)
    if found is None:
        raise SpecError(f"no scenario set found for it ({', '.join(map(str, tried))}); pass --scenarios FILE",
                        file=procedure_path)
    return found


def add_compile_arguments(p: argparse.ArgumentParser, *, metavar: str = "PROCEDURE",
                          help: str = "the procedure's YAML file") -> None:
    """The procedure and how to compile it (shared by compile, export and serve)."""
    p.add_argument("procedure", type=Path, metavar=metavar, help=help)
    p.add_argument("--scenarios", type=Path, help="scenario set (default: scenarios/<procedure file name>, else "
                   "<name>.scenarios.yaml or scenarios.yaml beside the procedure)")
    # the shipped recipes, read from compile/recipes/, so a new one is listed by itself
    from compile.recipe import available_recipes

    p.add_argument("--recipe", default="smollm2-135m",
                   help=f"compile recipe: {', '.join(available_recipes())} (default smollm2-135m), or a YAML path")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe setting, e.g. --set epochs=1 --set model.scratch.hidden_size=64")
    p.add_argument("--n", type=int, default=120, help="training scenarios per seed (default 120)")
    p.add_argument("--seeds", type=int, nargs="+", default=[42], help="data-generation seeds (default 42)")
    p.add_argument("--generator", default="offline", help="data-generation model (default offline)")
    p.add_argument("--store", type=Path, help="artifact store (default $SUBTERRA_STORE or .subterra/store)")


def add_machine_arguments(p: argparse.ArgumentParser) -> None:
    """Where this machine stands in a multi-process or multi-machine compile."""
    g = p.add_argument_group("several machines (the recipe's launcher: accelerate launch / torchrun)")
    g.add_argument("--machines", type=int, metavar="N",
                   help="machines that train together (sets the recipe's `machines`; default the recipe's, 1)")
    g.add_argument("--machine-rank", type=int, default=0, metavar="R",
                   help="this machine's rank, 0 to N-1; machine 0 writes the checkpoint (default 0)")
    g.add_argument("--main-process", metavar="HOST[:PORT]",
                   help="machine 0's address as the others reach it (port default 29500)")
    p.add_argument("--dry-run", action="store_true",
                   help="print where the data and model go and the exact training command, run nothing")


def _settings(args: argparse.Namespace) -> CompileSettings:
    from compile.recipe import parse_overrides
    from compile.settings import CompileSettings

    try:
        overrides = parse_overrides(args.overrides)
    except ValueError as e:
        raise SpecError(str(e), file="--set") from e
    if getattr(args, "machines", None) is not None:
        overrides["machines"] = args.machines
    return CompileSettings(recipe=args.recipe, overrides=overrides, n=args.n, seeds=args.seeds)


def _rendezvous(args: argparse.Namespace) -> Rendezvous | None:
    from compile.launch import LaunchError, Rendezvous, parse_main_process

    if getattr(args, "main_process", None) is None and not getattr(args, "machine_rank", 0):
        return None
    host, port = parse_main_process(args.main_process) if args.main_process else (None, 29500)
    if args.machine_rank < 0:
        raise LaunchError(f"--machine-rank is 0 or more, got {args.machine_rank}")
    return Rendezvous(machine_rank=args.machine_rank, main_ip=host, main_port=port)


def _inputs(args: argparse.Namespace):
    from harness.procedure import load_procedure
    from harness.scenarios import check_against, load_scenario_set

    procedure = load_procedure(args.procedure)
    scenario_set = load_scenario_set(args.scenarios or default_scenarios(args.procedure))
    check_against(scenario_set, procedure)
    return procedure, scenario_set


def compile_from_args(args: argparse.Namespace) -> CompiledModel:
    """Compile (or reuse from the store) what `add_compile_arguments` describes.

    Raises `SpecError` for a malformed --set (the CLI prints it and exits 2).
    """
    from compile.pipeline import compile_procedure
    from compile.store import Store

    procedure, scenario_set = _inputs(args)
    return compile_procedure(procedure, scenario_set, _settings(args), Store(args.store) if args.store else None,
                             generator=args.generator, rendezvous=_rendezvous(args))


@command("compile", "compile a procedure into a small model's weights (data generation, fine-tuning)")
def _compile(p: argparse.ArgumentParser) -> Command:
    add_compile_arguments(p)
    add_machine_arguments(p)

    def run(args: argparse.Namespace) -> int:
        from compile.launch import LaunchError, TrainingFailed

        try:
            if args.dry_run:
                return _dry_run(args)
            if args.machine_rank:
                return _lend_processes(args)
            compiled = compile_from_args(args)
        except LaunchError as e:
            raise SpecError(str(e), file="--machines/--machine-rank/--main-process") from e
        except TrainingFailed as e:
            err_console.print(f"error: {e}")
            return 1
        procedure = compiled.procedure
        table = Table(title=f"recompile cycle: {procedure.name} ({args.recipe})")
        for col in ("stage", "seconds", "work"):
            table.add_column(col)
        d, t = compiled.datagen, compiled.training
        for timing in compiled.timings:
            if timing.stage == "data generation":
                work = (f"reused from store ({d.conversations} conversations, 0 LLM calls)" if timing.reused else
                        f"{d.generated_now} conversations generated, {d.reused} reused, {d.turns} turns, {d.usage.input_tokens + d.usage.output_tokens:,} tokens")
            else:
                processes = f"{t.processes} process{'es' if t.processes != 1 else ''}"
                work = ("reused from store (0 training steps)" if timing.reused else
                        f"{t.steps} steps on {processes}, best eval loss {t.best_eval_loss:.3f}, "
                        f"{t.tokens_per_second:,.0f} tokens/s")
            table.add_row(timing.stage, f"{timing.seconds:.1f}", work)
        console.print(table)
        console.print(f"checkpoint: {compiled.checkpoint}")
        return 0
    return run


def _dry_run(args: argparse.Namespace) -> int:
    """Print the plan and the exact command that trains it; build nothing."""
    from compile.launch import launch_command, shell_command
    from compile.pipeline import machine_run_dir, plan_compile
    from compile.store import Store

    procedure, scenario_set = _inputs(args)
    plan = plan_compile(procedure, scenario_set, _settings(args), Store(args.store) if args.store else None,
                        generator=args.generator)
    recipe, rendezvous = plan.recipe, _rendezvous(args)
    run_dir = plan.run_dir
    if rendezvous is not None and rendezvous.machine_rank > 0:
        run_dir = machine_run_dir(Store(args.store) if args.store else Store(), plan.model_fingerprint,
                                  rendezvous.machine_rank)
    argv, env = launch_command(recipe, data_dir=plan.dataset_dir, system_prompt=procedure.system_prompt,
                               out_dir=run_dir, rendezvous=rendezvous)
    console.print(f"recipe:   {recipe.name}: {recipe.world_size} process{'es' if recipe.world_size != 1 else ''}"
                  f" ({recipe.processes} per machine x {recipe.machines} machine{'s' if recipe.machines != 1 else ''},"
                  f" device {recipe.device}, launcher {recipe.launcher}"
                  f"{', DeepSpeed ' + str(recipe.deepspeed_path) if recipe.deepspeed else ''}),"
                  f" effective batch {recipe.effective_batch} conversations")
    console.print(f"dataset:  {plan.dataset_dir} ({'in the store' if plan.dataset_exists else 'generated first'})")
    console.print(f"model:    {plan.model_fingerprint[:12]} "
                  f"({'in the store: nothing to train' if plan.model_exists else 'trained into ' + str(run_dir)})")
    if recipe.world_size == 1:
        console.print("training runs in this process, as this command would run it:")
    else:
        console.print(f"training runs under {recipe.launcher}:")
    console.print(shell_command(argv, env))
    return 0


def _lend_processes(args: argparse.Namespace) -> int:
    """A machine other than 0 of a multi-machine compile: its ranks join machine 0's run."""
    from compile.pipeline import lend_processes
    from compile.store import Store

    procedure, scenario_set = _inputs(args)
    rendezvous = _rendezvous(args)
    run_dir = lend_processes(procedure, scenario_set, _settings(args), rendezvous,
                             Store(args.store) if args.store else None, generator=args.generator)
    console.print(f"machine {rendezvous.machine_rank} trained with machine 0 ({rendezvous.main_ip}); "
                  f"the checkpoint is in machine 0's store. This machine's rank logs: {run_dir / 'logs'}")
    return 0
