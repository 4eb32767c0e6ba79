"""Synthetic conversations along sampled paths (paper §2): the data a procedure compiles from.

For each scenario (a path + sampled variables and persona) the generator model writes the
conversation turn by turn: at node n it gets n's prompt, rendered with the scenario, and
the history so far, and writes that one turn; a chain of agent steps is one turn, written
from every step's prompt in order (`harness.procedure.turns`). A tool step is no model's
to write: the agent's call carries the arguments the customer gave, the scenario's own copy
of the backend answers it, and the conversation continues from that result. Turns keep their node ids
(the trace judge learns from them; the compiled model never sees them).

Finished conversations are appended to a journal as they complete, so a killed run resumes
without redoing or duplicating work; the final `train.jsonl` / `eval.jsonl` are written
sorted by id, so the same inputs give byte-identical files whatever the completion order.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from compile.reuse import ConversationPool, conversation_key
from compile.settings import DataSize
from harness.backend import Backend
from harness.files import write_atomic
from harness.llm.base import ChatModel, ChatRequest, Hint, Message, ToolCall, Usage
from harness.procedure import Procedure, Role, chain_toward, same_turn
from harness.procedure.validate import render_arguments
from harness.scenarios import Scenario, ScenarioSet, sample_scenarios
from harness.seeds import stable_int
from harness.templates import render
from harness.transcript import Conversation, Turn

JOURNAL = "conversations.journal.jsonl"

GENERATOR_SYSTEM = (
    "You write realistic synthetic customer-service conversations for training, one turn at a "
    "time. Write only the requested turn's words: no speaker label, no stage directions, no "
    "markdown. Keep it to what a skilled human would say in one turn."
)


class DatagenConfig(DataSize):
    """How many conversations (the compile settings' data size) and how they are written."""

    concurrency: int = 8
    max_tokens: int = 300
    temperature: float = 0.7


class DatagenSummary(BaseModel):
    conversations: int
    train: int
    eval: int
    turns: int
    usage: Usage
    model: str
    generated_now: int                  # 0 when everything came from the journal or the pool
    reused: int = 0                     # taken from the store's conversation pool (compile/reuse.py)
    seconds: float


def conversation_id(procedure: str, seed: int, index: int) -> str:
    return f"{procedure}-s{seed}-{index:05d}"


def is_eval(conv_id: str, fraction: float) -> bool:
    """Split by conversation, from the id alone: stable under resume and re-ordering."""
    return stable_int("split", conv_id) % 10_000 < fraction * 10_000


def _history_text(turns: Sequence[Turn]) -> str:
    if not turns:
        return "(the conversation has not started yet)"
    return "\n".join(_history_line(t) for t in turns)


def _history_line(turn: Turn) -> str:
    if turn.speaker == "tool":
        return f"(Tool result: {turn.text})"
    if turn.tool_call is not None:
        call = json.dumps(turn.tool_call.arguments, ensure_ascii=False)
        return (f"Agent: {turn.text}\n" if turn.text else "") + f"(Agent calls {turn.tool_call.name} with {call})"
    return f"{'Agent' if turn.speaker == 'agent' else 'Customer'}: {turn.text}"


def _turn_end(procedure: Procedure, path: Sequence[str], step: int) -> int:
    """One past the last position of the turn that starts at `step` (a chain is one turn)."""
    end = step + 1
    while end < len(path) and same_turn(procedure, path[end - 1], path[end]):
        end += 1
    return end


def _step_toward(procedure: Procedure, path: Sequence[str], i: int) -> str | None:
    """At an agent hub on the path: the condition of the branch the path takes."""
    edges = procedure.nodes[path[i]].edges
    if i + 1 < len(path) and len(edges) > 1:
        return next(e for e in edges if e.to == path[i + 1]).when
    return None


def turn_request(procedure: Procedure, scenario: Scenario, step: int, turns: Sequence[Turn],
                 config: DatagenConfig) -> ChatRequest:
    """The generator's request for the turn that starts at position `step` of the scenario's
    path: one node, or a chain of agent steps spoken as one message."""
    path = scenario.path
    steps = path[step:_turn_end(procedure, path, step)]
    speaker = "agent" if procedure.nodes[steps[0]].role is Role.AGENT else "user"
    last = step + len(steps) - 1
    hints = []
    lines = []
    for i, node_id in enumerate(steps, step):
        toward = _step_toward(procedure, path, i) if speaker == "agent" else chain_toward(procedure, path, i)
        line = render(procedure.nodes[node_id].prompt, scenario.context)
        lines.append(line + (f"\n(The conversation continues so that: {toward}.)" if toward else ""))
        hints.append(Hint(task="turn", speaker=speaker, node=node_id, variables=scenario.context, toward=toward,
                          examples=tuple(procedure.examples_toward(node_id, _next_on_path(scenario, i)))))
    if len(steps) == 1:
        instruction, hint = lines[0], hints[0]
    else:
        instruction = ("carry out each of these steps in order, all in this one message:\n"
                       + "\n".join(f"{k}. {line}" for k, line in enumerate(lines, 1)))
        hint = Hint(task="turn", speaker=speaker, node=path[last], steps=tuple(hints))
    if speaker == "user":
        persona = ", ".join(f"{k}: {v}" for k, v in scenario.persona.items())
        who = f"the customer (persona — {persona})"
    else:
        who = "the agent"
    prompt = (f"Conversation so far:\n{_history_text(turns)}\n\n"
              f"Write the next turn, spoken by {who}.\nWhat happens in this turn: {instruction}")
    return ChatRequest(
        messages=(Message(role="system", content=GENERATOR_SYSTEM), Message(role="user", content=prompt)),
        max_tokens=config.max_tokens * len(steps), temperature=config.temperature,
        seed=stable_int(scenario.seed, scenario.index, step), hint=hint, purpose="datagen")


def _next_on_path(scenario: Scenario, step: int) -> str | None:
    return scenario.path[step + 1] if step + 1 < len(scenario.path) else None


async def generate_conversation(model: ChatModel, procedure: Procedure, scenario: Scenario,
                                config: DatagenConfig) -> Conversation:
    turns: list[Turn] = []
    usage = Usage()
    step = 0
    backend = Backend(scenario.backend.spec, scenario.backend.initial) if scenario.backend is not None else None
    while step < len(scenario.path):
        node_id = scenario.path[step]
        if procedure.nodes[node_id].role is Role.TOOL:
            turns += tool_step_turns(procedure, scenario, step, backend, len(turns))
            step += 1
            continue
        result = await model.generate(turn_request(procedure, scenario, step, turns, config))
        usage = usage + result.usage
        steps = scenario.path[step:_turn_end(procedure, scenario.path, step)]
        speaker = "agent" if procedure.nodes[steps[0]].role is Role.AGENT else "user"
        turns.append(Turn(speaker=speaker, text=result.text.strip(), node=steps[-1], chain=list(steps[:-1])))
        step += len(steps)
    return Conversation(id=conversation_id(procedure.name, scenario.seed, scenario.index),
                        procedure=procedure.name, scenario_index=scenario.index, seed=scenario.seed,
                        path=list(scenario.path), variables=scenario.variables, persona=scenario.persona,
                        turns=turns, usage=usage)


def tool_step_turns(procedure: Procedure, scenario: Scenario, step: int, backend: Backend | None,
                    at: int) -> list[Turn]:
    """A tool step of the path as two turns: the agent's call, with the arguments the customer
    gave (the scenario's values, which the customer was told to state), and the backend's reply
    — which must take the path's edge (the scenario's backend was arranged for it)."""
    node_id = scenario.path[step]
    node = procedure.nodes[node_id]
    if backend is None:
        raise ValueError(f"scenario {scenario.index} has no backend, but its path calls tool '{node.tool}'")
    call = ToolCall(id=f"call_{at}", name=node.tool or "", arguments=render_arguments(procedure, node_id, scenario.context))
    reply = backend.execute(call.name, dict(call.arguments))
    wanted = _next_on_path(scenario, step)
    if wanted is not None and procedure.result_edge(node_id, reply.get("result", "")) != wanted:
        raise ValueError(f"scenario {scenario.index}: tool step '{node_id}' answered {reply.get('result')!r}, "
                         f"which does not lead to '{wanted}' as its path does")
    return [Turn(speaker="agent", text="", node=node_id, tool_call=call),
            Turn(speaker="tool", text=json.dumps(reply, sort_keys=True), node=node_id, tool_call=call)]


def read_journal(path: Path) -> dict[str, Conversation]:
    """Finished conversations; a torn last line (killed mid-write) is cut off and redone."""
    if not path.exists():
        return {}
    done: dict[str, Conversation] = {}
    good_bytes = 0
    with path.open("rb") as f:
        for raw in f:
            try:
                conv = Conversation.model_validate(json.loads(raw))
            except (json.JSONDecodeError, ValueError):
                break
            if not raw.endswith(b"\n"):
                break
            done.setdefault(conv.id, conv)
            good_bytes += len(raw)
    if good_bytes != path.stat().st_size:
        with path.open("r+b") as f:
            f.truncate(good_bytes)
    return done


def _write_sorted(path: Path, conversations: list[Conversation]) -> None:
    write_atomic(path, "".join(conv.model_dump_json() + "\n" for conv in sorted(conversations, key=lambda c: c.id)))


async def generate_dataset(model: ChatModel, procedure: Procedure, scenario_set: ScenarioSet,
                           config: DatagenConfig, out_dir: Path, *, show_progress: bool | None = None,
                           pool: ConversationPool | None = None) -> DatagenSummary:
    """Generate (or finish generating) the dataset in `out_dir`; returns its summary.
    With a `pool`, conversations an earlier compile generated from the same inputs are
    taken from it, and the ones generated now are added to it."""
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    journal = out_dir / JOURNAL
    done = read_journal(journal)
    scenarios = [s for seed in config.seeds
                 for s in sample_scenarios(scenario_set, procedure, config.n, seed)]
    todo = [s for s in scenarios if conversation_id(procedure.name, s.seed, s.index) not in done]
    model_name = getattr(model, "name", type(model).__name__)
    keys = {conversation_id(procedure.name, s.seed, s.index): conversation_key(
        procedure, s, model_name, config.model_dump(include={"max_tokens", "temperature"}), GENERATOR_SYSTEM)
        for s in todo} if pool is not None else {}
    reused = _take_from_pool(pool, keys, journal, done) if pool is not None else 0
    todo = [s for s in todo if conversation_id(procedure.name, s.seed, s.index) not in done]
    semaphore = asyncio.Semaphore(config.concurrency)
    show = sys.stderr.isatty() if show_progress is None else show_progress

    with Progress(TextColumn("[bold]datagen[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), disable=not show, transient=False) as progress:
        task = progress.add_task(procedure.name, total=len(scenarios), completed=len(scenarios) - len(todo))
        with journal.open("a", encoding="utf-8") as sink:
            async def one(scenario: Scenario) -> None:
                async with semaphore:
                    conv = await generate_conversation(model, procedure, scenario, config)
                # One whole line per conversation, flushed: a kill leaves at most a torn tail.
                sink.write(conv.model_dump_json() + "\n")
                sink.flush()
                done[conv.id] = conv
                if pool is not None:
                    pool.put(keys[conv.id], conv)
                progress.advance(task)

            await asyncio.gather(*(one(s) for s in todo))

    wanted = {conversation_id(procedure.name, s.seed, s.index) for s in scenarios}
    convs = [c for cid, c in done.items() if cid in wanted]
    train = [c for c in convs if not is_eval(c.id, config.eval_fraction)]
    held_out = [c for c in convs if is_eval(c.id, config.eval_fraction)]
    _write_sorted(out_dir / "train.jsonl", train)
    _write_sorted(out_dir / "eval.jsonl", held_out)
    usage = sum((c.usage for c in convs), Usage())
    summary = DatagenSummary(conversations=len(convs), train=len(train), eval=len(held_out),
                             turns=sum(len(c.turns) for c in convs), usage=usage,
                             model=model_name, generated_now=len(todo), reused=reused,
                             seconds=round(time.perf_counter() - started, 3))
    return summary


def _take_from_pool(pool: ConversationPool, keys: dict[str, str], journal: Path,
                    done: dict[str, Conversation]) -> int:
    """Journal every conversation the pool holds for `keys` (id → key); how many it held."""
    found = {cid: conv for cid, key in keys.items() if (conv := pool.get(key)) is not None}
    with journal.open("a", encoding="utf-8") as sink:
        for cid in sorted(found):
            sink.write(found[cid].model_dump_json() + "\n")
    done.update(found)
    return len(found)


def load_split(out_dir: Path, split: str) -> list[Conversation]:
    """The `train` or `eval` conversations of a generated dataset."""
    path = out_dir / f"{split}.jsonl"
    with path.open(encoding="utf-8") as f:
        return [Conversation.model_validate_json(line) for line in f if line.strip()]
