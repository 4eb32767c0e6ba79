"""Paths through a procedure: counting, enumeration, uniform and coverage-guided sampling.

Loop semantics (documented in the README): a *path* is a walk from `start` to a terminal
node in which every loop edge (see `graph.loop_edges`: the edges that jump back to an
earlier step) is taken at most `max_loops` times; all other edges may repeat only as a
consequence of a loop. With `max_loops=1` the shipped travel procedure has 86 paths. A
path's length is counted in turns (messages): a chain of agent steps is one turn
(`turns.py`).

Everything is computed by dynamic programming over states (node, loop-edge use counts),
so counting never enumerates: a 200-node procedure with 10^12 paths counts in
milliseconds. A state keeps the use counts of the loop edges still reachable ahead, so
for structured flowcharts (loops that do not interleave) the state space stays near
nodes × (max_loops+1)^(nesting depth). Interleaved loops can make it exponential in the
number of loop edges, so it is bounded: past `MAX_STATES` states counting stops with
`TooManyLoops` (a one-line `SpecError`) instead of running for minutes on gigabytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import networkx as nx

from harness.errors import SpecError
from harness.procedure.graph import loop_edges, to_digraph
from harness.procedure.spec import Procedure, Role
from harness.seeds import stable_int

Path = tuple[str, ...]
State = tuple[str, tuple[tuple[int, int], ...]]   # node, (loop index, times taken) pairs

# ~20k states count in well under a second; the shipped procedures need at most ~150.
MAX_STATES = 20_000


class TooManyLoops(SpecError):
    """The loop edges interleave so much that exact counting would exceed `MAX_STATES`."""


@dataclass(frozen=True)
class PathStats:
    count: int
    min_turns: int
    max_turns: int


class PathSpace:
    """All paths of one procedure under a loop bound, computed lazily and memoised."""

    def __init__(self, procedure: Procedure, max_loops: int = 1) -> None:
        if max_loops < 0:
            raise ValueError(f"max_loops must be >= 0, got {max_loops}")
        self.procedure = procedure
        self.max_loops = max_loops
        self.loops = loop_edges(procedure)
        self._loop_index = {edge: i for i, edge in enumerate(self.loops)}
        self._succ = {nid: procedure.successors(nid) for nid in procedure.nodes}
        self._role = {nid: node.role for nid, node in procedure.nodes.items()}   # turns count role changes
        # A loop edge matters only while its source can still be reached; forgetting the
        # counts of dead loops keeps the state space small (nodes × live loops, not 2^loops).
        # Which loop sources lie ahead of each node: one pass over the DAG of strongly
        # connected components with bit masks (linear, where a search per node was quadratic).
        g = to_digraph(procedure)
        dag = nx.condensation(g)
        component = dag.graph["mapping"]
        own: dict[int, int] = {}
        for i, (src, _) in enumerate(self.loops):
            own[component[src]] = own.get(component[src], 0) | 1 << i
        ahead: dict[int, int] = {}
        for c in reversed(list(nx.topological_sort(dag))):
            mask = own.get(c, 0)
            for d in dag.successors(c):
                mask |= ahead[d]
            ahead[c] = mask
        self._live: dict[str, int] = {nid: ahead[component[nid]] for nid in procedure.nodes}

    @property
    def start(self) -> State:
        return (self.procedure.start, ())

    def moves(self, state: State) -> Iterator[tuple[str, State]]:
        """Successor states allowed from `state`, in file order. A state keeps the use counts
        of live loop edges only, as sorted (loop index, count) pairs without zeros, so a move
        costs the loops in use, not all loop edges."""
        node, used = state
        for nxt in self._succ[node]:
            counts = dict(used)
            i = self._loop_index.get((node, nxt))
            if i is not None:
                if counts.get(i, 0) >= self.max_loops:
                    continue
                counts[i] = counts.get(i, 0) + 1
            live = self._live[nxt]
            yield nxt, (nxt, tuple((j, c) for j, c in sorted(counts.items()) if live >> j & 1))

    def _order(self) -> list[State]:
        """Reachable states in reverse topological order (successors before predecessors)."""
        order: list[State] = []
        seen: set[State] = set()
        stack: list[tuple[State, Iterator]] = [(self.start, self.moves(self.start))]
        seen.add(self.start)
        while stack:
            state, it = stack[-1]
            for _, nxt in it:
                if nxt not in seen:
                    seen.add(nxt)
                    if len(seen) > MAX_STATES:
                        raise self._too_many()
                    stack.append((nxt, self.moves(nxt)))
                    break
            else:
                order.append(state)
                stack.pop()
        return order

    def _too_many(self) -> TooManyLoops:
        source = self.procedure.source
        return TooManyLoops(
            f"too many loop edges to count exactly: {len(self.loops)}; bound = {MAX_STATES:,} path states "
            f"(each loop edge taken at most {self.max_loops}×); paths cannot be counted or sampled — "
            "make loops return to one shared step, or lower --max-loops",
            file=source.file if source else None, line=source.line(("nodes",)) if source else None)

    @cached_property
    def _tables(self) -> tuple[list[State], dict[State, int], dict[State, tuple[int, int]]]:
        """The reachable states (successors first), and from each state the number of paths to
        a terminal and their range of turns: one dynamic-programming pass, on first use."""
        order = self._order()
        terminals = self.procedure.terminals()
        count: dict[State, int] = {}
        turns: dict[State, tuple[int, int]] = {}
        for state in order:  # successors first, so their values are ready
            node = state[0]
            if node in terminals:
                count[state], turns[state] = 1, (1, 1)
                continue
            total, lo, hi = 0, None, None
            for succ, nxt in self.moves(state):
                c = count[nxt]
                if c:
                    total += c
                    a, b = turns[nxt]
                    # a chain of agent steps is one turn; a tool step is two (the call, its result)
                    step = 2 if self._role[succ] is Role.TOOL else 0 if self._role[node] is self._role[succ] else 1
                    lo = a + step if lo is None else min(lo, a + step)
                    hi = b + step if hi is None else max(hi, b + step)
            count[state] = total
            turns[state] = (lo or 0, hi or 0)
        return order, count, turns

    # Each a plain attribute after its first read (cached_property), so hot loops pay nothing.
    @cached_property
    def _states(self) -> list[State]:
        return self._tables[0]

    @cached_property
    def _count(self) -> dict[State, int]:
        return self._tables[1]

    @cached_property
    def _range(self) -> dict[State, tuple[int, int]]:
        return self._tables[2]

    def stats(self) -> PathStats:
        lo, hi = self._range[self.start]
        return PathStats(count=self._count[self.start], min_turns=lo, max_turns=hi)

    def count(self) -> int:
        return self.stats().count

    def count_avoiding(self, nodes: set[str], edges: set[tuple[str, str]]) -> int:
        """Paths that visit none of `nodes` and take none of `edges`, by the same DP."""
        return self._avoiding(frozenset(nodes), frozenset(edges))[self.start]

    def _avoiding(self, nodes: frozenset[str], edges: frozenset[tuple[str, str]]) -> dict[State, int]:
        """From each state, the number of paths on that visit none of `nodes`, take none of `edges`."""
        terminals = self.procedure.terminals()
        avoid: dict[State, int] = {}
        for state in self._states:  # successors first
            node = state[0]
            if node in nodes:
                avoid[state] = 0
            elif node in terminals:
                avoid[state] = 1
            else:
                avoid[state] = sum(avoid[nxt] for n, nxt in self.moves(state) if (node, n) not in edges)
        return avoid

    def enumerate(self, limit: int | None = None) -> Iterator[Path]:
        """Yield paths in a deterministic (file-order, depth-first) order."""
        terminals = self.procedure.terminals()
        produced = 0
        # An explicit stack, not recursion: with many loops a path can be thousands of steps.
        prefix = [self.procedure.start]
        stack = [self.moves(self.start)] if self.start[0] not in terminals else []
        if not stack:
            yield tuple(prefix)
            return
        while stack:
            for node, nxt in stack[-1]:
                if not self._count.get(nxt):
                    continue
                prefix.append(node)
                if nxt[0] in terminals:
                    yield tuple(prefix)
                    produced += 1
                    prefix.pop()
                    if limit is not None and produced >= limit:
                        return
                    continue
                stack.append(self.moves(nxt))
                break
            else:
                stack.pop()
                prefix.pop()

    def _shortest_through(self, edge: tuple[str, str]) -> Path | None:
        """A shortest path that takes `edge`, by BFS over states; None if no path does."""
        from collections import deque

        # BFS from start over states, tracking whether the edge has been taken.
        start = (self.start, False)
        parent: dict = {start: None}
        queue = deque([start])
        terminals = self.procedure.terminals()
        while queue:
            (state, taken) = key = queue.popleft()
            if taken and state[0] in terminals:
                path = []
                while key is not None:
                    path.append(key[0][0])
                    key = parent[key]
                return tuple(reversed(path))
            for node, nxt in self.moves(state):
                if not self._count.get(nxt):
                    continue
                nkey = (nxt, taken or (state[0], node) == edge)
                if nkey not in parent:
                    parent[nkey] = key
                    queue.append(nkey)
        return None

    def covering_paths(self) -> list[Path]:
        """A small set of paths that together take every edge (greedy set cover)."""
        edges = [(s, t) for s, t, _ in self.procedure.edges()]
        candidates = {e: p for e in edges if (p := self._shortest_through(e)) is not None}
        uncovered = set(candidates)
        chosen: list[Path] = []
        while uncovered:
            best = max((candidates[e] for e in edges if e in uncovered),
                       key=lambda p, todo=frozenset(uncovered): len(todo & set(zip(p, p[1:], strict=False))))
            chosen.append(best)
            uncovered -= set(zip(best, best[1:], strict=False))
        return chosen


Target = str | tuple[str, str]       # a node, or an edge (source, target)


def sample_paths(procedure: Procedure, n: int, seed: int, max_loops: int = 1) -> list[Path]:
    """Draw `n` paths: first a set that covers every edge, then one keyed walk per index.

    When `n` is at least the size of the covering set every edge is exercised; a smaller
    `n` takes a prefix of it. Same procedure, n and seed → the same list, and path *i* is
    the same for every `n`.

    Stable under an edit (see `keyed_walk`): path *i* past the covering set depends only
    on the seed, *i* and the edges of the nodes it passes, so an edit elsewhere leaves it
    as it was. The covering set depends on the edges alone: an edit of prompts, examples
    or edge conditions leaves every path as it was; one that adds or removes an edge may
    re-plan the covering set (the first slots).
    """
    space, covering = _planned(procedure, max_loops)
    paths = list(covering[:n])
    paths += [keyed_walk(space, ("path", seed, i)) for i in range(len(paths), n)]
    return paths


_PLANS: dict[tuple[int, int], tuple[Procedure, PathSpace, list[Path]]] = {}


def _planned(procedure: Procedure, max_loops: int) -> tuple[PathSpace, list[Path]]:
    """The path space and covering set of `procedure` (this very object), computed once: a
    suite naming one procedure in many entries samples from the same plan."""
    key = (id(procedure), max_loops)
    plan = _PLANS.get(key)
    if plan is None or plan[0] is not procedure:     # an id reused by a new object: plan afresh
        if len(_PLANS) >= 64:
            _PLANS.clear()
        space = PathSpace(procedure, max_loops)
        plan = _PLANS[key] = (procedure, space, space.covering_paths())
    return plan[1], plan[2]


def planned_space(procedure: Procedure, max_loops: int = 1) -> PathSpace:
    """The path space `sample_paths` draws from (computed once per procedure object)."""
    return _planned(procedure, max_loops)[0]


def paths_through(procedure: Procedure, target: Target, k: int, seed: int, max_loops: int = 1) -> list[Path]:
    """`k` keyed walks that each pass through `target` (a node or an edge); [] if no path does.
    Walk *j* is the same for every `k` and depends on the target's name, not on its index."""
    space = PathSpace(procedure, max_loops)
    label = target if isinstance(target, str) else "->".join(target)
    return [p for j in range(k) if (p := keyed_walk(space, ("through", seed, label, j), target)) is not None]


def keyed_walk(space: PathSpace, key: tuple, through: Target | None = None) -> Path | None:
    """One path, decided node by node: at each step the option whose stable hash of (`key`,
    node, how often the walk has been there, option) is smallest — a uniform choice among
    the node's live options (rendezvous hashing).

    Why this and not a uniform draw over all paths: a decision here reads only the node's own
    edges, so an edit that leaves a node's edges alone leaves every decision there alone,
    and a walk that passes no edited node comes out the same. A draw weighted by path counts
    cannot do that: an edit that adds paths below one branch shifts the weights at every hub
    above it. Adding or removing one option changes a decision only when that option wins it.
    The price: short paths are drawn more often than uniform would; the covering set that
    comes first in `sample_paths` makes sure every edge is still exercised.

    With `through`, options are limited to those that can still reach it until it is taken;
    None when no path reaches it.
    """
    terminals = space.procedure.terminals()
    if through is None:
        ahead: dict[State, int] | None = None
    else:
        nodes, edges = (frozenset({through}), frozenset()) if isinstance(through, str) else (
            frozenset(), frozenset({through}))
        avoid = space._avoiding(nodes, edges)
        ahead = {state: space._count[state] - avoid[state] for state in avoid}
        if not ahead[space.start]:
            return None
    state = space.start
    path = [state[0]]
    visits: dict[str, int] = {}
    while state[0] not in terminals:
        node = state[0]
        visits[node] = visits.get(node, 0) + 1
        options = [(nxt, st) for nxt, st in space.moves(state) if space._count.get(st)]
        if ahead is not None:
            options = [(nxt, st) for nxt, st in options if (node, nxt) == through or ahead[st]]
        nxt, state = min(options, key=lambda o, at=(*key, node, visits[node]): (stable_int(*at, o[0]), o[0]))
        if ahead is not None and ((node, nxt) == through or nxt == through):
            ahead = None
        path.append(nxt)
    return tuple(path)


def is_walk(procedure: Procedure, path: Path) -> bool:
    """Whether `path` starts at `start` and follows the procedure's edges (e.g. a path of
    another version of it)."""
    return (bool(path) and path[0] == procedure.start and all(n in procedure.nodes for n in path)
            and all(b in procedure.successors(a) for a, b in zip(path, path[1:], strict=False)))
