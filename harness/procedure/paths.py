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
nodes × (max_loops+1)^(nesting depth).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import networkx as nx

from harness.procedure.graph import loop_edges, to_digraph
from harness.procedure.spec import Procedure

Path = tuple[str, ...]
State = tuple[str, tuple[int, ...]]


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
        g = to_digraph(procedure)
        self._live: dict[str, tuple[bool, ...]] = {}
        for nid in procedure.nodes:
            ahead = nx.descendants(g, nid) | {nid}
            self._live[nid] = tuple(src in ahead for src, _ in self.loops)
        self._count: dict[State, int] = {}
        self._range: dict[State, tuple[int, int]] = {}

    @property
    def start(self) -> State:
        return (self.procedure.start, (0,) * len(self.loops))

    def moves(self, state: State) -> Iterator[tuple[str, State]]:
        """Successor states allowed from `state`, in file order."""
        node, used = state
        for nxt in self._succ[node]:
            i = self._loop_index.get((node, nxt))
            if i is not None:
                if used[i] >= self.max_loops:
                    continue
                used_next = used[:i] + (used[i] + 1,) + used[i + 1 :]
            else:
                used_next = used
            live = self._live[nxt]
            yield nxt, (nxt, tuple(c if keep else 0 for c, keep in zip(used_next, live, strict=True)))

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
                    stack.append((nxt, self.moves(nxt)))
                    break
            else:
                order.append(state)
                stack.pop()
        return order

    @cached_property
    def _states(self) -> list[State]:
        order = self._order()
        terminals = self.procedure.terminals()
        for state in order:  # successors first, so their values are ready
            node = state[0]
            if node in terminals:
                self._count[state], self._range[state] = 1, (1, 1)
                continue
            total, lo, hi = 0, None, None
            for succ, nxt in self.moves(state):
                c = self._count[nxt]
                if c:
                    total += c
                    a, b = self._range[nxt]
                    step = 0 if self._role[node] is self._role[succ] else 1   # a chain of agent steps is one turn
                    lo = a + step if lo is None else min(lo, a + step)
                    hi = b + step if hi is None else max(hi, b + step)
            self._count[state] = total
            self._range[state] = (lo or 0, hi or 0)
        return order

    def stats(self) -> PathStats:
        self._states  # noqa: B018 - fills the tables
        lo, hi = self._range[self.start]
        return PathStats(count=self._count[self.start], min_turns=lo, max_turns=hi)

    def count(self) -> int:
        return self.stats().count

    def count_avoiding(self, nodes: set[str], edges: set[tuple[str, str]]) -> int:
        """Paths that visit none of `nodes` and take none of `edges`, by the same DP."""
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
        return avoid[self.start]

    def enumerate(self, limit: int | None = None) -> Iterator[Path]:
        """Yield paths in a deterministic (file-order, depth-first) order."""
        self._states  # noqa: B018
        produced = 0
        terminals = self.procedure.terminals()

        def walk(state: State, prefix: list[str]) -> Iterator[Path]:
            nonlocal produced
            if state[0] in terminals:
                produced += 1
                yield tuple(prefix)
                return
            for node, nxt in self.moves(state):
                if self._count.get(nxt):
                    prefix.append(node)
                    yield from walk(nxt, prefix)
                    prefix.pop()
                    if limit is not None and produced >= limit:
                        return

        yield from walk(self.start, [self.procedure.start])

    def sample_uniform(self, rng: random.Random) -> Path:
        """One path drawn uniformly from all paths (choices weighted by path counts)."""
        self._states  # noqa: B018
        state = self.start
        path = [state[0]]
        terminals = self.procedure.terminals()
        while state[0] not in terminals:
            options = [(node, nxt) for node, nxt in self.moves(state) if self._count.get(nxt)]
            r = rng.randrange(sum(self._count[nxt] for _, nxt in options))
            for node, nxt in options:
                r -= self._count[nxt]
                if r < 0:
                    path.append(node)
                    state = nxt
                    break
        return tuple(path)

    def _shortest_through(self, edge: tuple[str, str]) -> Path | None:
        """A shortest path that takes `edge`, by BFS over states; None if no path does."""
        from collections import deque

        self._states  # noqa: B018
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


def sample_paths(procedure: Procedure, n: int, seed: int, max_loops: int = 1) -> list[Path]:
    """Draw `n` paths: first a set that covers every edge, then uniform draws.

    When `n` is at least the size of the covering set every edge is exercised; a smaller
    `n` takes a prefix of it. Same procedure, n and seed → the same list.
    """
    space = PathSpace(procedure, max_loops)
    cover = space.covering_paths()
    rng = random.Random(seed)
    paths = list(cover[:n])
    while len(paths) < n:
        paths.append(space.sample_uniform(rng))
    return paths
