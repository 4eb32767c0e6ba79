"""`subterra run` and `subterra chat`: one condition against the simulated user, or a person."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from harness.errors import SpecError
from harness.procedure import Procedure
from subterra.cli import Command, command, console
from subterra.cli.compile import default_scenarios


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("procedure", type=Path)
    from harness.conditions import CONDITIONS

    p.add_argument("--condition", required=True, choices=CONDITIONS)
    p.add_argument("--scenarios", type=Path, help="scenario set (default: scenarios/<procedure file name>, else "
                   "<name>.scenarios.yaml or scenarios.yaml beside the procedure)")
    p.add_argument("--seed", type=int, default=7, help="scenario sampling seed (default 7)")
    p.add_argument("--model", help="the condition's model; default: the compiled model (subterranean, "
                                   "compiled with --recipe through the store), local:smollm2-135m "
                                   "(orchestrated) or offline (langgraph, in_context)")
    p.add_argument("--recipe", default="smollm2-135m", help="compile recipe for subterranean (default smollm2-135m)")
    p.add_argument("--system-prompt", type=Path, metavar="FILE",
                   help="subterranean on a served model: the system prompt it was trained with (an "
                        "export's system_prompt.txt), sent exactly as in training (default: the procedure's)")


def _condition(args: argparse.Namespace, procedure, scenario_set):
    from harness.conditions import build_condition, condition_class
    from harness.llm import get_model

    spec = args.model or condition_class(args.condition).default_model
    if spec is None:   # subterranean: the compiled model, from the store (compiled now if missing)
        from compile.pipeline import compile_procedure
        from compile.settings import CompileSettings

        console.print(f"compiling {procedure.name} with {args.recipe} (reused from the store if unchanged)")
        spec = compile_procedure(procedure, scenario_set, CompileSettings(recipe=args.recipe)).model_spec
    if args.system_prompt is not None:   # after compiling: the compile uses the procedure as it is
        procedure = with_served_system_prompt(procedure, args.system_prompt, args.condition)
    # The compiled model is never replayed from the response cache: a served model can change
    # behind the same name, and the point is to check what answers now.
    cache = {"cache": "off"} if args.condition == "subterranean" else {}
    return build_condition(args.condition, procedure, get_model(spec, **cache))


def with_served_system_prompt(procedure: Procedure, path: Path, condition: str) -> Procedure:
    """`procedure` speaking with the served model's own system prompt (read from `path`)."""
    if condition != "subterranean":
        raise SpecError("--system-prompt applies to the subterranean condition only", file=path)
    try:
        served = path.read_text(encoding="utf-8")
    except OSError as e:
        raise SpecError(f"cannot read the system prompt: {e.strerror}", file=path) from e
    if served != procedure.system_prompt:
        console.print(f"note: the served model was trained with another system prompt than {procedure.name}'s "
                      "current one (compiled from an earlier version?); sending the served model's")
    return procedure.model_copy(update={"system_prompt": served})


def _load(args: argparse.Namespace):
    from harness.procedure import load_procedure
    from harness.scenarios import check_against, load_scenario_set

    procedure = load_procedure(args.procedure)
    scenario_set = load_scenario_set(args.scenarios or default_scenarios(args.procedure))
    check_against(scenario_set, procedure)
    return procedure, scenario_set


@command("run", "run one condition against the simulated user and write the transcripts")
def _run(p: argparse.ArgumentParser) -> Command:
    _common(p)
    p.add_argument("--n", type=int, default=12, help="scenarios (default 12)")
    p.add_argument("--user-model", default="offline", help="simulated-user model (default offline)")
    p.add_argument("--max-turns", type=int, default=60, help="turn cap per conversation (default 60)")
    p.add_argument("--out", type=Path, help="transcripts file (default runs/<procedure>-<condition>.jsonl)")

    def run(args: argparse.Namespace) -> int:
        from harness.llm import get_model
        from harness.runner import run_conversations
        from harness.scenarios import sample_scenarios
        from harness.simulator import UserSimulator
        from harness.transcript import write_jsonl

        procedure, scenario_set = _load(args)
        scenarios = sample_scenarios(scenario_set, procedure, args.n, args.seed)
        condition = _condition(args, procedure, scenario_set)
        simulator = UserSimulator(get_model(args.user_model), procedure)
        with Progress(TextColumn(f"[bold]{args.condition}[/]"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, disable=not console.is_terminal) as progress:
            task = progress.add_task("conversations", total=len(scenarios))
            transcripts = asyncio.run(run_conversations(condition, simulator, scenarios, max_turns=args.max_turns,
                                                        on_done=lambda _: progress.advance(task)))
        out = args.out or Path("runs") / f"{procedure.name}-{args.condition}.jsonl"
        write_jsonl(out, transcripts)

        from harness.judges.actions import judge_actions, summarize_actions

        verdicts = [judge_actions(procedure, s, t) for s, t in zip(scenarios, transcripts, strict=True)]
        acts = bool(procedure.tools)
        table = Table(title=f"{procedure.name} / {args.condition} ({condition.model.name})")
        for col in ("scenario", "end", "turns", "agent tokens in/out", "routing calls", "seconds",
                    *(("end state", "tool calls right") if acts else ())):
            table.add_column(col)
        for t, v in zip(transcripts, verdicts, strict=True):
            table.add_row(str(t.scenario_index), t.end_reason + (f" ({t.terminal})" if t.terminal else ""),
                          str(len(t.turns)), f"{t.agent_usage.input_tokens}/{t.agent_usage.output_tokens}",
                          str(t.routing_usage.calls), f"{t.wall_clock_s:.1f}",
                          *((("match" if v.end_state_match else "differs"), f"{v.correct_steps}/{len(v.steps)}")
                            if acts and v is not None else ()))
        console.print(table)
        if acts:
            a = summarize_actions(args.condition, [v for v in verdicts if v is not None])
            console.print(f"end-state match {a.end_state_matches}/{a.n}, tool-call accuracy "
                          f"{a.correct_steps}/{a.tool_steps}, extra calls {a.extra_calls}", highlight=False)
        if any("offline" in m for t in transcripts for m in (t.agent_model, t.user_model)):
            console.print("offline models played a part: these transcripts are not a real model's")
        console.print(f"transcripts: {out}")
        return 0
    return run


@command("chat", "talk to a condition yourself, as the customer (type /quit to stop)")
def _chat(p: argparse.ArgumentParser) -> Command:
    _common(p)
    p.add_argument("--scenario", type=int, default=0,
                   help="scenario index whose variables fill node prompts (default 0)")

    def run(args: argparse.Namespace) -> int:
        from harness.backend import Backend
        from harness.procedure import Role
        from harness.runner import execute_tool
        from harness.scenarios import sample_scenarios
        from harness.transcript import Turn

        procedure, scenario_set = _load(args)
        scenario = sample_scenarios(scenario_set, procedure, args.scenario + 1, args.seed)[args.scenario]
        condition = _condition(args, procedure, scenario_set)
        session = condition.session(scenario)
        console.print(Text.assemble((procedure.title, "bold"), f" — {args.condition} on {condition.model.name}. "
                                    f"Your facts: {scenario.variables}. Type /quit to stop."))
        turns: list[Turn] = []
        agent_next = procedure.nodes[procedure.start].role is Role.AGENT   # else you open the chat
        backend = Backend(scenario.backend.spec, scenario.backend.initial) if scenario.backend else None
        while True:
            if agent_next:
                reply = asyncio.run(session.reply(turns))
                if reply.tool_call is not None:     # the agent acts: run it, show it, ask the agent again
                    result, _ = asyncio.run(execute_tool(backend, reply.tool_call))
                    console.print(Text.assemble(("tool:", "magenta"), f" {reply.tool_call.name}"
                                                f"({json.dumps(reply.tool_call.arguments)}) -> {json.dumps(result)}"))
                    turns.append(Turn(speaker="agent", text=reply.text, tool_call=reply.tool_call))
                    turns.append(Turn(speaker="tool", text=json.dumps(result, sort_keys=True),
                                      tool_call=reply.tool_call))
                    continue
                if reply.text:
                    console.print(Text.assemble(("agent:", "cyan"), f" {reply.text}"))
                    turns.append(Turn(speaker="agent", text=reply.text))
                if reply.terminal:
                    console.print(f"(the procedure ended at '{reply.terminal}')")
                    return 0
            agent_next = True
            try:
                said = input("you: ").strip()
            except EOFError:
                return 0
            if said in {"/quit", "/exit"}:
                return 0
            turns.append(Turn(speaker="user", text=said))
    return run
