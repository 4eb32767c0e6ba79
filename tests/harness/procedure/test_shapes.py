"""Chains of agent steps, agent-side decisions, customer-opened chats and loops through a
chain: validate, paths --count (a chain is one turn), render, diff."""

from __future__ import annotations

import pytest

from harness.procedure import PathSpace, load_procedure, turn_groups
from harness.procedure.diff import diff_procedures
from harness.procedure.render import to_dot, to_mermaid
from subterra.cli import main
from tests.conftest import SHAPE_NAMES, shape_files

# (paths, min turns, max turns) counted by hand: a chain of agent steps is one message.
EXPECTED = {
    "agent_chain": (2, 5, 5),       # greet | ask_help | acknowledge+send_code+ask_code | give_code | end
    "agent_hub": (2, 3, 5),         # greet | describe | assess+escalate   or ... | assess | wait | resolve
    "customer_opens": (2, 4, 4),    # ask_status | lookup+anything_else | reply | end
    "chain_loop": (2, 5, 7),        # the loop goes back through send_link+instruct once
}


@pytest.mark.parametrize("name", SHAPE_NAMES)
def test_shape_validates_and_counts_turns_by_message(name: str, capsys: pytest.CaptureFixture) -> None:
    procedure_file, scenario_file = shape_files(name)
    assert main(["validate", str(procedure_file), str(scenario_file)]) == 0
    assert main(["paths", "--count", str(procedure_file)]) == 0
    count, lo, hi = EXPECTED[name]
    assert f"{name}: {count} paths, {lo}–{hi} turns" in capsys.readouterr().out
    space = PathSpace(load_procedure(procedure_file))
    stats = space.stats()
    assert (stats.count, stats.min_turns, stats.max_turns) == EXPECTED[name]
    # The DP's turn range is the enumerated paths' message counts.
    lengths = [len(turn_groups(space.procedure, p)) for p in space.enumerate()]
    assert (min(lengths), max(lengths)) == (lo, hi)


def test_paths_list_shows_a_chain_as_one_turn(capsys: pytest.CaptureFixture) -> None:
    assert main(["paths", "--list", "5", str(shape_files("chain_loop")[0])]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "greet → request → send_link + instruct → outcome → done",
        "greet → request → send_link + instruct → outcome → send_link + instruct → outcome → done"]


def test_a_chain_is_one_turn_and_a_loop_passes_through_it() -> None:
    proc = load_procedure(shape_files("chain_loop")[0])
    longest = max(PathSpace(proc).enumerate(), key=len)
    assert turn_groups(proc, longest) == [
        ("greet",), ("request",), ("send_link", "instruct"), ("outcome",),
        ("send_link", "instruct"), ("outcome",), ("done",)]


@pytest.mark.parametrize("name", SHAPE_NAMES)
def test_shape_renders_chain_edges_dotted(name: str, capsys: pytest.CaptureFixture) -> None:
    procedure_file = shape_files(name)[0]
    proc = load_procedure(procedure_file)
    mermaid, dot = to_mermaid(proc), to_dot(proc)
    for src, dst, _ in proc.edges():
        chained = proc.nodes[src].role is proc.nodes[dst].role
        assert (f"{src} -.->" in mermaid and any(f"{src} -.->" in line and line.endswith(dst)
                                                 for line in mermaid.splitlines())) == chained
        line = next(x for x in dot.splitlines() if x.strip().startswith(f"{src} -> {dst}"))
        assert ("style=dotted" in line) == chained
    assert main(["render", str(procedure_file), "--format", "mermaid"]) == 0
    assert "flowchart TD" in capsys.readouterr().out


def test_diff_counts_paths_through_an_edited_chain_step() -> None:
    proc = load_procedure(shape_files("chain_loop")[0])
    edited = proc.model_copy(deep=True)
    edited.nodes["instruct"].prompt = "Say the link expires in ten minutes and ask whether it worked."
    diff = diff_procedures(proc, edited)
    assert [c.node for c in diff.nodes_changed] == ["instruct"]
    assert diff.affected_paths == 2       # every path speaks the chain


@pytest.mark.parametrize(("yaml_text", "expect"), [
    ("start: a\nnodes:\n  a: {role: user, prompt: Ask., next: b}\n  b: {role: user, prompt: Add., next: c}\n"
     "  c: {role: agent, prompt: Answer., terminal: success}\n", "merge the two into one node"),
    ("start: a\nnodes:\n  a: {role: agent, prompt: Check., next: [{to: b, when: again}, {to: c, when: done}]}\n"
     "  b: {role: agent, prompt: Recheck., next: a}\n  c: {role: agent, prompt: Done., terminal: success}\n",
     "route the loop back through a customer step"),
])
def test_refused_shapes_say_how_to_rewrite(tmp_path, capsys, yaml_text: str, expect: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: p\ntitle: P\nsystem_prompt: S.\n" + yaml_text)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {path}:") and expect in err[0]
