"""`subterra compile`: the recompile cycle for one procedure, with each stage's time."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from harness.errors import SpecError
from subterra.cli import Command, command, console

if TYPE_CHECKING:
    from compile.pipeline import CompiledModel


def default_scenarios(procedure_path: Path) -> Path:
    """procedures/NAME.yaml → scenarios/NAME.yaml beside it."""
    return procedure_path.parent.parent / "scenarios" / procedure_path.name


def add_compile_arguments(p: argparse.ArgumentParser, *, metavar: str = "PROCEDURE",
                          help: str = "the procedure's YAML file") -> None:
    """The procedure and how to compile it (shared by compile, export and serve)."""
    p.add_argument("procedure", type=Path, metavar=metavar, help=help)
    p.add_argument("--scenarios", type=Path, help="scenario set (default: scenarios/<procedure file name>)")
    p.add_argument("--recipe", default="smollm2-135m",
                   help="compile recipe: tiny-cpu, smollm2-135m (default), qwen2.5-3b, qwen3-8b, or a YAML path")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe setting, e.g. --set epochs=1 --set model.scratch.hidden_size=64")
    p.add_argument("--n", type=int, default=120, help="training scenarios per seed (default 120)")
    p.add_argument("--seeds", type=int, nargs="+", default=[42], help="data-generation seeds (default 42)")
    p.add_argument("--generator", default="offline", help="data-generation model (default offline)")
    p.add_argument("--store", type=Path, help="artifact store (default $SUBTERRA_STORE or .subterra/store)")


def compile_from_args(args: argparse.Namespace) -> CompiledModel:
    """Compile (or reuse from the store) what `add_compile_arguments` describes.

    Raises `SpecError` for a malformed --set (the CLI prints it and exits 2).
    """
    from compile.pipeline import compile_procedure
    from compile.recipe import parse_overrides
    from compile.settings import CompileSettings
    from compile.store import Store
    from harness.procedure import load_procedure
    from harness.scenarios import check_against, load_scenario_set

    procedure = load_procedure(args.procedure)
    scenario_set = load_scenario_set(args.scenarios or default_scenarios(args.procedure))
    check_against(scenario_set, procedure)
    try:
        overrides = parse_overrides(args.overrides)
    except ValueError as e:
        raise SpecError(str(e), file="--set") from e
    settings = CompileSettings(recipe=args.recipe, overrides=overrides, n=args.n, seeds=args.seeds)
    return compile_procedure(procedure, scenario_set, settings, Store(args.store) if args.store else None,
                             generator=args.generator)


@command("compile", "compile a procedure into a small model's weights (data generation, fine-tuning)")
def _compile(p: argparse.ArgumentParser) -> Command:
    add_compile_arguments(p)

    def run(args: argparse.Namespace) -> int:
        compiled = compile_from_args(args)
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
                work = ("reused from store (0 training steps)" if timing.reused else
                        f"{t.steps} steps, best eval loss {t.best_eval_loss:.3f}")
            table.add_row(timing.stage, f"{timing.seconds:.1f}", work)
        console.print(table)
        console.print(f"checkpoint: {compiled.checkpoint}")
        return 0
    return run
