"""Structural diff of two versions of a procedure, and which paths it touches."""

from __future__ import annotations

from pydantic import BaseModel

from harness.procedure.paths import PathSpace
from harness.procedure.spec import Procedure


class NodeChange(BaseModel):
    node: str
    fields: list[str]          # e.g. ["prompt", "examples", "role"]


class ProcedureDiff(BaseModel):
    nodes_added: list[str]
    nodes_removed: list[str]
    nodes_changed: list[NodeChange]
    edges_added: list[tuple[str, str]]
    edges_removed: list[tuple[str, str]]
    conditions_changed: list[tuple[str, str]]
    header_changed: list[str]  # system_prompt, start, title, description
    paths_before: int
    paths_after: int
    # Paths of the new version that pass through anything added or changed; these are
    # the scenarios a regression check must re-run.
    affected_paths: int

    @property
    def empty(self) -> bool:
        return not (self.nodes_added or self.nodes_removed or self.nodes_changed or self.edges_added
                    or self.edges_removed or self.conditions_changed or self.header_changed)

    def edited(self) -> list[str | tuple[str, str]]:
        """What a regression check must exercise: nodes added or changed, edges added or
        whose condition changed."""
        return [*self.nodes_added, *(c.node for c in self.nodes_changed), *self.edges_added,
                *self.conditions_changed]

    def summary(self) -> str:
        if self.empty:
            return "no changes"
        parts = []
        for label, items in [("nodes added", self.nodes_added), ("nodes removed", self.nodes_removed),
                             ("nodes changed", [f"{c.node} ({', '.join(c.fields)})" for c in self.nodes_changed]),
                             ("edges added", [f"{a}->{b}" for a, b in self.edges_added]),
                             ("edges removed", [f"{a}->{b}" for a, b in self.edges_removed]),
                             ("conditions changed", [f"{a}->{b}" for a, b in self.conditions_changed]),
                             ("header changed", self.header_changed)]:
            if items:
                parts.append(f"{label}: {', '.join(items)}")
        parts.append(f"paths: {self.paths_before} -> {self.paths_after}, "
                     f"{self.affected_paths} affected")
        return "\n".join(parts)


def _edges(p: Procedure) -> dict[tuple[str, str], str | None]:
    # A tool step's edge is labelled by the result that takes it.
    return {(nid, e.to): e.when or (f"result: {e.result}" if e.result else None)
            for nid, node in p.nodes.items() for e in node.edges}


def diff_procedures(old: Procedure, new: Procedure, max_loops: int = 1) -> ProcedureDiff:
    old_nodes, new_nodes = set(old.nodes), set(new.nodes)
    changed: list[NodeChange] = []
    for nid in sorted(old_nodes & new_nodes):
        a, b = old.nodes[nid], new.nodes[nid]
        fields = [f for f in ("role", "prompt", "examples", "terminal", "title", "tool", "arguments")
                  if getattr(a, f) != getattr(b, f)]
        if b.tool is not None and old.tools.get(b.tool) != new.tools.get(b.tool) and "tool" not in fields:
            fields.append("tool")        # the tool's declaration changed under an unchanged step
        if fields:
            changed.append(NodeChange(node=nid, fields=fields))
    old_edges, new_edges = _edges(old), _edges(new)
    header = [f for f in ("system_prompt", "start", "title", "description")
              if getattr(old, f) != getattr(new, f)]
    cond_changed = sorted(e for e in old_edges.keys() & new_edges.keys() if old_edges[e] != new_edges[e])

    touched_nodes = (new_nodes - old_nodes) | {c.node for c in changed}
    touched_edges = (set(new_edges) - set(old_edges)) | set(cond_changed)
    new_space = PathSpace(new, max_loops)
    if "system_prompt" in header or "start" in header:
        affected = new_space.count()      # every conversation sees the header
    else:
        affected = _count_touching(new_space, touched_nodes, touched_edges)
    return ProcedureDiff(
        nodes_added=sorted(new_nodes - old_nodes), nodes_removed=sorted(old_nodes - new_nodes),
        nodes_changed=changed,
        edges_added=sorted(set(new_edges) - set(old_edges)),
        edges_removed=sorted(set(old_edges) - set(new_edges)),
        conditions_changed=cond_changed, header_changed=header,
        paths_before=PathSpace(old, max_loops).count(), paths_after=new_space.count(),
        affected_paths=affected)


def _count_touching(space: PathSpace, nodes: set[str], edges: set[tuple[str, str]]) -> int:
    """Paths that visit a node in `nodes` or take an edge in `edges` (complement of avoiding them)."""
    if not nodes and not edges:
        return 0
    return space.count() - space.count_avoiding(nodes, edges)


def touched_nodes(old: Procedure, new: Procedure) -> frozenset[str] | None:
    """Nodes of `new` that were added or changed, and the nodes right before them (a hub's
    router reads what its targets say); None when a change reaches every node."""
    if old.model_dump(exclude={"nodes"}) != new.model_dump(exclude={"nodes"}):
        return None
    changed = {nid for nid, node in new.nodes.items() if old.nodes.get(nid) != node}
    before = {nid for nid, node in new.nodes.items() if any(e.to in changed for e in node.edges)}
    return frozenset(changed | before)
