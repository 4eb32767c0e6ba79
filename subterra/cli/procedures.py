"""Commands about procedure files: validate, paths, render, diff, schema."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.table import Table

from harness.errors import MAX_FILE_SHOWN, SpecError, SpecErrors, shown
from subterra.cli import Command, command, console

# ---- validate ---------------------------------------------------------------------------

def _loops(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _kind_of(path: Path) -> str:
    from harness.yaml_source import load_yaml

    data, _ = load_yaml(path)
    if isinstance(data, dict) and "nodes" in data:
        return "procedure"
    if isinstance(data, dict) and "procedure" in data:
        return "scenarios"
    raise SpecError("not a procedure (needs `nodes`) or a scenario set (needs `procedure`)",
                    file=path, line=1)


BACKEND_SAMPLE = 200


def _backend_report(proc, sset) -> list[SpecError]:
    """Draw scenarios and replay their paths on their arranged backends: how many contradict."""
    from harness.backend import replay_path
    from harness.backend.arrange import repeated_call
    from harness.procedure.paths import TooManyLoops, sample_paths
    from harness.scenarios import sample_scenarios

    try:
        scenarios = sample_scenarios(sset, proc, BACKEND_SAMPLE, 0)
    except SpecErrors as e:
        return list(e.errors)
    except TooManyLoops:
        return []
    contradicting = sum(bool(replay_path(s.backend.spec, proc, s.path, s.context, s.backend.initial).contradictions)
                        for s in scenarios if s.backend is not None)
    steps = sum(len(s.backend.expected_calls) for s in scenarios if s.backend is not None)
    console.print(f"  backend: {len(sset.backend.tables)} tables, {len(sset.backend.tools)} tools; "
                  f"{BACKEND_SAMPLE} scenarios drawn (seed 0), {steps} tool steps, "
                  f"{contradicting} whose backend contradicts their path", highlight=False)
    redrawn = [p for p, s in zip(sample_paths(proc, BACKEND_SAMPLE, 0), scenarios, strict=True) if p != s.path]
    if redrawn:
        repeat = repeated_call(sset.backend, proc, redrawn[0])
        why = (f": it reaches lookup '{repeat[0]}' again with the customer's same details and needs '{repeat[2]}' "
               f"after '{repeat[1]}'" if repeat else "")
        console.print(f"  {len(redrawn)} sampled paths could not happen with the declared tools and were redrawn "
                      f"(e.g. {' -> '.join(redrawn[0])}{why})", highlight=False)
    return []


@command("validate", "check procedure and scenario files; print per-procedure statistics")
def _validate(p: argparse.ArgumentParser) -> Command:
    p.add_argument("paths", nargs="+", type=Path, help="procedure and/or scenario-set YAML files")
    p.add_argument("--max-loops", type=_loops, default=1, help="times each loop edge may be taken (default 1)")

    def run(args: argparse.Namespace) -> int:
        from harness.procedure import PathSpace, load_procedure
        from harness.procedure.paths import TooManyLoops
        from harness.scenarios import check_against, load_scenario_set

        errors: list[SpecError] = []
        procedures, scenario_sets = {}, []
        for path in args.paths:
            try:
                if _kind_of(path) == "procedure":
                    proc = load_procedure(path)
                    procedures[proc.name] = proc
                else:
                    scenario_sets.append((path, load_scenario_set(path)))
            except SpecErrors as e:
                errors.extend(e.errors)
            except SpecError as e:
                errors.append(e)
        for _path, sset in scenario_sets:
            # Checked against the procedure it names, or the one procedure given (which reports
            # the mismatch); a set for a procedure not given is checked on its own.
            target = procedures.get(sset.procedure) or (next(iter(procedures.values())) if len(procedures) == 1
                                                         else None)
            if target is None and procedures:
                errors.append(sset.source.error(
                    f"scenario set is for procedure '{sset.procedure}', not any given here "
                    f"({', '.join(procedures)})", ("procedure",)))
            elif target is not None:
                try:
                    check_against(sset, target)
                except SpecErrors as e:
                    errors.extend(e.errors)
        if procedures:
            table = Table(title="procedures")
            for col in ("procedure", "nodes", "hubs", "terminals", "loop edges", "paths", "turns"):
                table.add_column(col, justify="right" if col not in ("procedure", "terminals") else "left")
            notes = []
            for name, proc in procedures.items():
                space = PathSpace(proc, args.max_loops)
                kinds: dict[str, int] = {}
                for kind in proc.terminals().values():
                    kinds[kind.value] = kinds.get(kind.value, 0) + 1
                try:
                    stats = space.stats()
                    paths, turns = f"{stats.count:,}", f"{stats.min_turns}–{stats.max_turns}"
                except TooManyLoops as e:   # the file is valid; only exact counting is out of reach
                    paths, turns = "too many", "?"
                    notes.append(f"note: {e}")
                table.add_row(name, str(len(proc.nodes)), str(len(proc.hubs())),
                              ", ".join(f"{v} {k}" for k, v in kinds.items()),
                              str(len(space.loops)), paths, turns)
            console.print(table)
            for note in notes:
                console.print(note)
        for path, sset in scenario_sets:
            console.print(f"scenario set {shown(str(path), MAX_FILE_SHOWN)}: {len(sset.variables)} variables, "
                          f"{len(sset.persona)} persona traits, procedure '{sset.procedure}'")
            proc = procedures.get(sset.procedure)
            if proc is not None and proc.tools and sset.backend is not None and not errors:
                errors.extend(_backend_report(proc, sset))
        if errors:
            raise SpecErrors(errors)
        return 0
    return run


# ---- paths ------------------------------------------------------------------------------

@command("paths", "count, list or sample the paths through a procedure")
def _paths(p: argparse.ArgumentParser) -> Command:
    p.add_argument("procedure", type=Path)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--count", action="store_true", help="print the number of paths and turn range (default)")
    mode.add_argument("--sample", type=int, metavar="N", help="draw N paths: edge-covering first, then keyed walks")
    mode.add_argument("--list", type=int, metavar="N",
                      help="list the first N paths in file order (a + b: agent steps spoken in one message)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-loops", type=_loops, default=1, help="times each loop edge may be taken (default 1)")

    def run(args: argparse.Namespace) -> int:
        from harness.procedure import PathSpace, load_procedure, sample_paths
        from harness.procedure.turns import format_path

        proc = load_procedure(args.procedure)
        space = PathSpace(proc, args.max_loops)
        if args.sample is not None:
            for path in sample_paths(proc, args.sample, args.seed, args.max_loops):
                console.print(format_path(proc, path))
        elif args.list is not None:
            for path in space.enumerate(limit=args.list):
                console.print(format_path(proc, path))
        else:
            stats = space.stats()
            console.print(f"{proc.name}: {stats.count:,} paths, {stats.min_turns}–{stats.max_turns} turns "
                          f"(each of {len(space.loops)} loop edges at most {args.max_loops}×); "
                          f"{len(space.covering_paths())} paths cover every edge")
        return 0
    return run


# ---- render / diff / schema -------------------------------------------------------------

@command("render", "export a procedure as Mermaid or Graphviz DOT")
def _render(p: argparse.ArgumentParser) -> Command:
    p.add_argument("procedure", type=Path)
    p.add_argument("--format", choices=["mermaid", "dot"], default="mermaid")
    p.add_argument("-o", "--output", type=Path, help="write here instead of standard output")

    def run(args: argparse.Namespace) -> int:
        from harness.procedure import load_procedure
        from harness.procedure.render import to_dot, to_mermaid

        proc = load_procedure(args.procedure)
        text = to_mermaid(proc) if args.format == "mermaid" else to_dot(proc)
        if args.output:
            args.output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        return 0
    return run


@command("diff", "structural diff of two procedure versions and the paths it affects")
def _diff(p: argparse.ArgumentParser) -> Command:
    p.add_argument("old", type=Path)
    p.add_argument("new", type=Path)
    p.add_argument("--json", action="store_true", help="print the diff as JSON")

    def run(args: argparse.Namespace) -> int:
        from harness.procedure import load_procedure
        from harness.procedure.diff import diff_procedures

        d = diff_procedures(load_procedure(args.old), load_procedure(args.new))
        console.print(d.model_dump_json(indent=2) if args.json else d.summary())
        return 0
    return run


@command("schema", "print the JSON Schema of the procedure or scenario-set format")
def _schema(p: argparse.ArgumentParser) -> Command:
    p.add_argument("kind", nargs="?", choices=["procedure", "scenarios"], default="procedure")

    def run(args: argparse.Namespace) -> int:
        from harness.procedure.schema import procedure_schema
        from harness.scenarios import scenario_set_schema

        schema = procedure_schema() if args.kind == "procedure" else scenario_set_schema()
        sys.stdout.write(json.dumps(schema, indent=2) + "\n")
        return 0
    return run


