from __future__ import annotations

from collections import Counter

import pytest

from harness.procedure import PathSpace, Procedure, load_procedure, sample_paths
from harness.procedure.graph import loop_edges


def _brute_force(proc: Procedure, max_loops: int) -> set[tuple[str, ...]]:
    """Every walk to a terminal where each loop edge is used <= max_loops times (small graphs)."""
    loops = set(loop_edges(proc))
    out: set[tuple[str, ...]] = set()

    def walk(path: list[str], used: Counter) -> None:
        node = path[-1]
        if proc.nodes[node].terminal is not None:
            out.add(tuple(path))
            return
        for nxt in proc.successors(node):
            e = (node, nxt)
            if e in loops and used[e] >= max_loops:
                continue
            if len(path) > 60:
                raise AssertionError("walk did not terminate")
            walk(path + [nxt], used + Counter([e] if e in loops else []))

    walk([proc.start], Counter())
    return out


def _chain(n_hubs: int) -> Procedure:
    """A synthetic procedure: agent/user pairs, each user hub with 3 exits and a loop back."""
    nodes: dict = {}
    for i in range(n_hubs):
        nodes[f"a{i}"] = {"role": "agent", "prompt": "p", "next": f"u{i}"}
        nxt = f"a{i + 1}" if i + 1 < n_hubs else "done"
        nodes[f"u{i}"] = {"role": "user", "prompt": "p", "next": [
            {"to": nxt, "when": "go on"}, {"to": f"b{i}", "when": "detour"},
            {"to": f"a{i}", "when": "again"}, {"to": "quit", "when": "gives up"}]}
        nodes[f"b{i}"] = {"role": "agent", "prompt": "p", "next": f"v{i}"}
        nodes[f"v{i}"] = {"role": "user", "prompt": "p", "next": nxt}
    nodes["done"] = {"role": "agent", "prompt": "p", "terminal": "success"}
    nodes["quit"] = {"role": "agent", "prompt": "p", "terminal": "abandoned"}
    return Procedure.model_validate({"name": "chain", "title": "c", "system_prompt": "s",
                                     "start": "a0", "nodes": nodes})


@pytest.mark.parametrize("max_loops", [0, 1, 2])
def test_count_and_enumeration_match_brute_force(mini_path, max_loops) -> None:
    proc = load_procedure(mini_path)
    space = PathSpace(proc, max_loops)
    expected = _brute_force(proc, max_loops)
    assert space.count() == len(expected)
    assert set(space.enumerate()) == expected
    stats = space.stats()
    assert stats.min_turns == min(map(len, expected))
    assert stats.max_turns == max(map(len, expected))


@pytest.mark.parametrize("hubs", [1, 2, 3])
def test_dp_count_matches_brute_force_on_synthetic_chains(hubs) -> None:
    proc = _chain(hubs)
    assert PathSpace(proc).count() == len(_brute_force(proc, 1))


def test_counting_does_not_enumerate_huge_spaces() -> None:
    proc = _chain(40)   # ~10^20 paths; enumeration would never finish
    count = PathSpace(proc).count()
    assert count > 10**18
    assert count == PathSpace(proc).count()


def test_enumerate_respects_limit(mini_path) -> None:
    assert len(list(PathSpace(load_procedure(mini_path)).enumerate(limit=2))) == 2


def test_coverage_sampling_covers_every_edge() -> None:
    proc = _chain(5)
    space = PathSpace(proc)
    cover = space.covering_paths()
    edges = {(s, t) for s, t, _ in proc.edges()}
    taken = {e for p in cover for e in zip(p, p[1:], strict=False)}
    assert taken == edges
    paths = sample_paths(proc, len(cover) + 10, seed=3)
    assert paths[: len(cover)] == cover
    assert {e for p in paths for e in zip(p, p[1:], strict=False)} == edges


def test_sampling_is_seeded_and_paths_are_valid(mini_path) -> None:
    proc = load_procedure(mini_path)
    a = sample_paths(proc, 20, seed=7)
    assert a == sample_paths(proc, 20, seed=7)
    assert a != sample_paths(proc, 20, seed=8)
    valid = set(PathSpace(proc).enumerate())
    assert all(p in valid for p in a)


def _with_new_branch(proc: Procedure, hub: str) -> Procedure:
    """`proc` with one more option at `hub`: a new agent step that goes on where the hub's
    first option goes (a structural edit)."""
    new = proc.model_copy(deep=True)
    node = new.nodes[hub]
    first = node.edges[0]
    new.nodes["extra_step"] = type(new.nodes[first.to]).model_validate(
        {"role": "agent", "prompt": "An extra step.", "next": first.to})
    node.next = [*node.edges, first.model_copy(update={"to": "extra_step", "when": "something new"})]
    return Procedure.model_validate(new.model_dump())


@pytest.mark.parametrize("domain, hub", [("travel", "summarize_booking"), ("insurance", "confirm_summary")])
def test_a_walk_that_passes_no_edited_node_keeps_its_path(domain, hub) -> None:
    from harness.procedure.diff import touched_nodes
    from tests.conftest import ROOT

    old = load_procedure(ROOT / f"procedures/{domain}.yaml")
    new = _with_new_branch(old, hub)
    touched = touched_nodes(old, new)
    first = max(len(PathSpace(old).covering_paths()), len(PathSpace(new).covering_paths()))
    before, after = sample_paths(old, first + 150, seed=5), sample_paths(new, first + 150, seed=5)
    clear = [i for i in range(first, first + 150) if not set(before[i]) & touched]
    assert len(clear) > 30
    assert all(after[i] == before[i] for i in clear)
    moved = [i for i in range(first, first + 150) if after[i] != before[i]]
    assert moved and all(set(before[i]) & touched for i in moved)   # the edit did move some


def test_a_prompt_edit_keeps_every_path() -> None:
    from tests.conftest import ROOT

    old = load_procedure(ROOT / "procedures/travel.yaml")
    new = old.model_copy(deep=True)
    new.nodes["confirm_booking"].prompt += " Thank them."
    assert sample_paths(new, 60, seed=1) == sample_paths(old, 60, seed=1)


@pytest.mark.parametrize("target", ["confirm_booking", ("summarize_booking", "choose_option")])
def test_paths_through_a_target_pass_it_and_are_stable(target) -> None:
    from harness.procedure.paths import paths_through
    from tests.conftest import ROOT

    proc = load_procedure(ROOT / "procedures/travel.yaml")
    valid = set(PathSpace(proc).enumerate())
    paths = paths_through(proc, target, 4, seed=2)
    assert len(paths) == 4 and all(p in valid for p in paths)
    steps = [set(p) if isinstance(target, str) else set(zip(p, p[1:], strict=False)) for p in paths]
    assert all(target in s for s in steps)
    assert paths_through(proc, target, 2, seed=2) == paths[:2]
    assert paths_through(proc, ("booked", "greet"), 2, seed=2) == []


# ---- bounds: interleaved loops never run away -------------------------------------------

def interleaved_loops(k: int) -> Procedure:
    """2k+1 nodes; customer turn i can go on or back to any earlier agent turn: k(k+1)/2 loop edges."""
    nodes: dict = {}
    for i in range(k):
        nodes[f"a{i}"] = {"role": "agent", "prompt": "hi", "next": f"u{i}"}
        nodes[f"u{i}"] = {"role": "user", "prompt": "hi", "next": [{"to": f"a{i + 1}", "when": "go on"}]
                          + [{"to": f"a{j}", "when": f"back to {j}"} for j in range(i + 1)]}
    nodes[f"a{k}"] = {"role": "agent", "prompt": "bye", "terminal": "success"}
    return Procedure.model_validate({"name": "loops", "title": "t", "system_prompt": "s", "start": "a0",
                                     "nodes": nodes})


def test_interleaved_loops_stop_at_the_bound_with_a_clear_error() -> None:
    from harness.procedure.paths import TooManyLoops

    proc = interleaved_loops(6)            # 13 nodes, 21 loop edges: ran >60 s at ~2 GB before
    space = PathSpace(proc)
    assert len(space.loops) == 21
    with pytest.raises(TooManyLoops, match=r"too many loop edges to count exactly: 21; bound = 20,000"):
        space.count()
    with pytest.raises(TooManyLoops):
        sample_paths(proc, 3, seed=0)
    assert PathSpace(interleaved_loops(3)).count() > 0      # small enough: counted exactly


def test_validate_still_validates_a_procedure_too_loopy_to_count(tmp_path, capsys) -> None:
    import yaml

    from subterra.cli import main

    path = tmp_path / "loops.yaml"
    path.write_text(yaml.safe_dump(interleaved_loops(6).model_dump(mode="json", exclude_none=True), sort_keys=False))
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"note: {path}:" in out and "too many loop edges to count exactly: 21" in out
    path.write_text(path.read_text().replace("start: a0", "start: nowhere"))
    assert main(["validate", str(path)]) == 2


def test_long_paths_enumerate_without_recursion(mini_path) -> None:
    space = PathSpace(load_procedure(mini_path), max_loops=2000)
    longest = max(space.enumerate(limit=3000), key=len)
    assert len(longest) > 2000
