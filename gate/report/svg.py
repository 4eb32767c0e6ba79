"""Inline SVG for the report: no JavaScript, no external files, deterministic output.

- `scores_chart`: mean score per criterion and condition with 95 % CI whiskers.
- `cost_chart`: dollars per conversation per condition on a log10 axis.
- `pass_k_chart`: pass^k against k per condition (repeated trials).
- `flowchart_svg`: the procedure laid out in layers (BFS depth from the start node, via
  `networkx.multipartite_layout`), nodes and edges coloured by trace-judge pass rate.

Every figure is an `<svg class="plot-…">` / `<svg class="flowchart">` whose parts carry
classes and data attributes (`<g class="node" data-node="greet">`) tests and CSS can find.
All text goes through `escape`, so transcript or procedure text cannot inject markup.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

import networkx as nx

from gate.report.views import ConditionCostView, ConditionSummary, TraceCoverage
from harness.cost import dollars
from harness.judges.rubric import CRITERIA
from harness.procedure import Procedure, to_digraph
from harness.procedure.render import COLOURS

__all__ = ["condition_colour", "cost_chart", "flowchart_layout", "flowchart_svg", "pass_colour", "pass_k_chart",
           "scores_chart"]

PALETTE = ("#4a90d9", "#f5a623", "#7b61ff", "#2e9e6a", "#d0021b", "#8b572a", "#50e3c2", "#9b9b9b")
CRITERION_LABELS = {"task_success": "Task success", "information_accuracy": "Info. accuracy",
                    "consistency": "Consistency", "graceful_handling": "Graceful handling",
                    "naturalness": "Naturalness"}
UNSEEN = "#d8d8d8"   # nodes/edges no conversation reached: no pass rate to colour by


def _f(x: float) -> str:
    """Coordinates with two decimals: stable text for byte-identical SVG."""
    return f"{x:.2f}"


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def condition_colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def pass_colour(rate: float | None, *, light: bool = False) -> str:
    """Red (0) → amber → green (1); grey when undefined."""
    if rate is None:
        return UNSEEN
    hue = round(120 * max(0.0, min(1.0, rate)))
    return f"hsl({hue}, 70%, {'82%' if light else '40%'})"


def _legend(items: Sequence[tuple[str, str]], x: float, y: float) -> list[str]:
    out = ['<g class="legend">']
    for k, (label, colour) in enumerate(items):
        yy = y + 18 * k
        out.append(f'<rect x="{_f(x)}" y="{_f(yy - 10)}" width="12" height="12" fill="{colour}"/>'
                   f'<text x="{_f(x + 18)}" y="{_f(yy)}" font-size="12">{_e(label)}</text>')
    out.append("</g>")
    return out


# ---- (a) score means with CI whiskers --------------------------------------------------------

def scores_chart(summaries: Sequence[ConditionSummary], *, title: str = "Mean score (95 % CI)") -> str:
    """Grouped bars: one group per criterion, one bar per condition, y axis 0–5."""
    scored = [s for s in summaries if s.means]
    width, height, left, top, bottom, legend_w = 760, 320, 44, 30, 46, 150
    plot_w, plot_h = width - left - legend_w, height - top - bottom
    y = lambda v: top + plot_h * (1 - v / 5)  # noqa: E731 - tiny local scale
    out = [f'<svg class="plot-scores" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">',
           f'<text x="{left}" y="18" font-size="13" font-weight="bold">{_e(title)}</text>']
    for v in range(6):
        out.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{_f(y(v))}" y2="{_f(y(v))}" '
                   f'stroke="#e4e4e4"/><text x="{left - 8}" y="{_f(y(v) + 4)}" font-size="11" '
                   f'text-anchor="end">{v}</text>')
    group_w = plot_w / len(CRITERIA)
    bar_w = (group_w * 0.8) / max(1, len(scored))
    for g, criterion in enumerate(CRITERIA):
        gx = left + g * group_w + group_w * 0.1
        out.append(f'<text class="criterion" x="{_f(gx + group_w * 0.4)}" y="{height - bottom + 16}" '
                   f'font-size="11" text-anchor="middle">{_e(CRITERION_LABELS[criterion])}</text>')
        for k, s in enumerate(scored):
            ci = s.means[criterion]
            x = gx + k * bar_w
            colour = condition_colour(summaries.index(s))
            tip = f"{s.condition} · {criterion}: {ci.estimate:.2f} [{ci.low:.2f}, {ci.high:.2f}] (n={s.n_scored})"
            cx = x + bar_w / 2
            out.append(
                f'<g class="bar" data-condition="{_e(s.condition)}" data-criterion="{criterion}" '
                f'data-mean="{ci.estimate:.4f}"><title>{_e(tip)}</title>'
                f'<rect x="{_f(x + 1)}" y="{_f(y(ci.estimate))}" width="{_f(max(bar_w - 2, 1))}" '
                f'height="{_f(y(0) - y(ci.estimate))}" fill="{colour}"/>'
                f'<line class="ci" x1="{_f(cx)}" x2="{_f(cx)}" y1="{_f(y(ci.low))}" y2="{_f(y(ci.high))}" '
                f'stroke="#222" stroke-width="1.5"/>'
                f'<line class="ci-cap" x1="{_f(cx - 3)}" x2="{_f(cx + 3)}" y1="{_f(y(ci.low))}" y2="{_f(y(ci.low))}" stroke="#222"/>'
                f'<line class="ci-cap" x1="{_f(cx - 3)}" x2="{_f(cx + 3)}" y1="{_f(y(ci.high))}" y2="{_f(y(ci.high))}" stroke="#222"/>'
                "</g>")
    if not scored:
        out.append(f'<text x="{left + 20}" y="{top + 40}" font-size="12">no scored conversations</text>')
    out += _legend([(s.condition, condition_colour(summaries.index(s))) for s in scored],
                   width - legend_w + 16, top + 10)
    out.append("</svg>")
    return "".join(out)


# ---- pass^k against k (tau-bench's reliability figure) -----------------------------------------

def pass_k_chart(curves: Sequence[tuple[str, Mapping[int, float]]], *,
                 title: str = "pass^k: share of scenarios passed in all of k trials") -> str:
    """One line per condition (name, {k: pass^k}), k on the x axis, the share 0–1 on the y axis."""
    drawn = [(name, curve) for name, curve in curves if curve]
    max_k = max((max(curve) for _, curve in drawn), default=1)
    width, height, left, top, bottom, legend_w = 760, 300, 48, 30, 44, 150
    plot_w, plot_h = width - left - legend_w, height - top - bottom
    x = lambda k: left + (plot_w * (k - 1) / (max_k - 1) if max_k > 1 else plot_w / 2)  # noqa: E731
    y = lambda v: top + plot_h * (1 - v)  # noqa: E731
    out = [f'<svg class="plot-pass-k" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">',
           f'<text x="{left}" y="18" font-size="13" font-weight="bold">{_e(title)}</text>']
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        out.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{_f(y(tick))}" y2="{_f(y(tick))}" '
                   f'stroke="#e4e4e4"/><text x="{left - 8}" y="{_f(y(tick) + 4)}" font-size="11" '
                   f'text-anchor="end">{tick:.2f}</text>')
    for k in range(1, max_k + 1):
        out.append(f'<text class="tick" x="{_f(x(k))}" y="{height - bottom + 16}" font-size="11" '
                   f'text-anchor="middle">{k}</text>')
    out.append(f'<text x="{_f(left + plot_w / 2)}" y="{height - 8}" font-size="11" text-anchor="middle">k (trials)</text>')
    for index, (name, curve) in enumerate(curves):
        if not curve:
            continue
        colour = condition_colour(index)
        points = " ".join(f"{_f(x(k))},{_f(y(v))}" for k, v in sorted(curve.items()))
        out.append(f'<g class="curve" data-condition="{_e(name)}">'
                   f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for k, v in sorted(curve.items()):
            out.append(f'<circle class="point" data-k="{k}" data-pass-k="{v:.4f}" cx="{_f(x(k))}" cy="{_f(y(v))}" '
                       f'r="4" fill="{colour}"><title>{_e(f"{name}: pass^{k} = {v:.2f}")}</title></circle>')
        out.append("</g>")
    if not drawn:
        out.append(f'<text x="{left + 20}" y="{top + 40}" font-size="12">no fault-free trials to draw</text>')
    out += _legend([(name, condition_colour(i)) for i, (name, curve) in enumerate(curves) if curve],
                   width - legend_w + 16, top + 10)
    out.append("</svg>")
    return "".join(out)


# ---- (b) cost per conversation, log scale -----------------------------------------------------

def cost_chart(costs: Sequence[ConditionCostView], *, title: str = "Cost per conversation (USD, log scale)") -> str:
    """Horizontal bars on a log10 axis; free ($0) or unpriced conditions are listed, not drawn."""
    rows = len(costs)
    width, left, right, top, row_h = 760, 130, 150, 34, 26
    height = top + row_h * max(rows, 1) + 40
    plot_w = width - left - right
    positive = [c.cost.total_per_conversation for c in costs if c.cost and c.cost.total_per_conversation > 0]
    lo = math.floor(math.log10(min(positive))) if positive else -4
    hi = math.ceil(math.log10(max(positive))) if positive else 0
    hi = max(hi, lo + 1)
    x = lambda v: left + plot_w * (math.log10(v) - lo) / (hi - lo)  # noqa: E731
    out = [f'<svg class="plot-cost" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">',
           f'<text x="{left}" y="18" font-size="13" font-weight="bold">{_e(title)}</text>']
    axis_y = top + row_h * max(rows, 1)
    for p in range(lo, hi + 1):
        px = x(10.0 ** p)
        out.append(f'<line class="grid" x1="{_f(px)}" x2="{_f(px)}" y1="{top}" y2="{axis_y}" stroke="#e4e4e4"/>'
                   f'<text class="tick" x="{_f(px)}" y="{axis_y + 16}" font-size="11" '
                   f'text-anchor="middle">{_e(dollars(10.0 ** p))}</text>')
    for k, c in enumerate(costs):
        yy = top + k * row_h
        total = c.cost.total_per_conversation if c.cost else None
        out.append(f'<g class="bar" data-condition="{_e(c.condition)}" data-cost="{"" if total is None else f"{total:.8g}"}">'
                   f'<text x="{left - 8}" y="{_f(yy + row_h / 2 + 4)}" font-size="12" text-anchor="end">{_e(c.condition)}</text>')
        if total is not None and total > 0:
            out.append(f'<title>{_e(f"{c.condition}: {dollars(total)} per conversation")}</title>'
                       f'<rect x="{left}" y="{_f(yy + 4)}" width="{_f(max(x(total) - left, 1))}" height="{row_h - 8}" '
                       f'fill="{condition_colour(k)}"/>'
                       f'<text x="{_f(x(total) + 6)}" y="{_f(yy + row_h / 2 + 4)}" font-size="11">{_e(dollars(total))}</text>')
        else:
            label = "$0 (free)" if total == 0 else "no price"
            out.append(f'<text x="{left + 6}" y="{_f(yy + row_h / 2 + 4)}" font-size="11" fill="#777">{label}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


# ---- (c) the flowchart coloured by trace-judge pass rate --------------------------------------

NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 150, 44, 24, 46, 20


def _layers(procedure: Procedure) -> dict[str, int]:
    """BFS depth from the start node; unreachable nodes go one layer below the deepest."""
    g = to_digraph(procedure)
    depth = nx.single_source_shortest_path_length(g, procedure.start)
    bottom = max(depth.values(), default=0) + 1
    return {n: depth.get(n, bottom) for n in procedure.nodes}


def flowchart_layout(procedure: Procedure) -> dict[str, tuple[float, float]]:
    """Node centres in pixels, layered top-down; deterministic for a given procedure."""
    layer = _layers(procedure)
    g = to_digraph(procedure)
    # Order each layer by the mean position of its parents (one barycentre sweep).
    rank: dict[str, float] = {}
    ordered: list[str] = []
    for d in sorted(set(layer.values())):
        file_order = {n: i for i, n in enumerate(n for n in procedure.nodes if layer[n] == d)}

        def bary(n: str, file_order: dict[str, int] = file_order) -> tuple[float, int]:
            parents = [rank[p] for p in g.predecessors(n) if p in rank]
            return (sum(parents) / len(parents) if parents else math.inf, file_order[n])
        members = sorted(file_order, key=bary)
        for i, n in enumerate(members):
            rank[n] = i - (len(members) - 1) / 2
        ordered += members
    h = nx.DiGraph()
    h.add_nodes_from(ordered)
    # Layers as ordered lists: given an attribute name, networkx groups nodes into sets,
    # whose order follows string hashing and so changes from process to process.
    subsets = {d: [n for n in ordered if layer[n] == d] for d in sorted(set(layer.values()))}
    pos = nx.multipartite_layout(h, subset_key=subsets, align="horizontal")
    # Rescale x so neighbours in the widest layer sit a node width apart.
    gaps = [abs(float(pos[a][0]) - float(pos[b][0])) for a, b in zip(ordered, ordered[1:], strict=False)
            if layer[a] == layer[b]]
    unit = (NODE_W + GAP_X) / min(gaps) if gaps and min(gaps) > 0 else 1.0
    xs = {n: float(pos[n][0]) * unit for n in ordered}
    x0 = min(xs.values())
    return {n: (MARGIN + NODE_W / 2 + xs[n] - x0, MARGIN + NODE_H / 2 + layer[n] * (NODE_H + GAP_Y))
            for n in procedure.nodes}


def _label(procedure: Procedure, node: str, limit: int = 22) -> str:
    text = procedure.nodes[node].title or node.replace("_", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _edge_path(a: tuple[float, float], b: tuple[float, float], self_loop: bool) -> str:
    (x1, y1), (x2, y2) = a, b
    if self_loop:
        sx, sy = x1 + NODE_W / 2, y1
        return f"M{_f(sx)},{_f(sy - 8)} C{_f(sx + 40)},{_f(sy - 30)} {_f(sx + 40)},{_f(sy + 30)} {_f(sx)},{_f(sy + 8)}"
    if y2 > y1:   # downward: bottom of source to top of target
        return f"M{_f(x1)},{_f(y1 + NODE_H / 2)} L{_f(x2)},{_f(y2 - NODE_H / 2)}"
    # back edge or same layer: leave on the right, curve round, enter on the right
    bend = NODE_W / 2 + 30 + abs(y1 - y2) * 0.15
    sx, tx = x1 + NODE_W / 2, x2 + NODE_W / 2
    return (f"M{_f(sx)},{_f(y1)} C{_f(max(sx, tx) + bend)},{_f(y1)} "
            f"{_f(max(sx, tx) + bend)},{_f(y2)} {_f(tx + 2)},{_f(y2)}")


MARKED = {"added": "#1565c0", "changed": "#ef6c00"}


def flowchart_svg(procedure: Procedure, trace: TraceCoverage | None = None, *,
                  css_id: str | None = None, marked: Mapping[str, str] | None = None) -> str:
    """The flowchart with nodes filled by pass rate and edges stroked by pass rate; nodes in
    `marked` (node → "added" / "changed") are outlined in that change's colour."""
    marked = marked or {}
    pos = flowchart_layout(procedure)
    nodes = {n.node: n for n in trace.nodes} if trace else {}
    edges = {(e.source, e.target): e for e in trace.edges} if trace else {}
    hubs = set(procedure.hubs())
    width = max(x for x, _ in pos.values()) + NODE_W / 2 + MARGIN + 80
    height = max(y for _, y in pos.values()) + NODE_H / 2 + MARGIN
    marker = f"arrow-{css_id or procedure.name}"
    cond = trace.condition if trace else ""
    out = [f'<svg class="flowchart" xmlns="http://www.w3.org/2000/svg" width="{_f(width)}" height="{_f(height)}" '
           f'viewBox="0 0 {_f(width)} {_f(height)}" data-procedure="{_e(procedure.name)}" '
           f'data-condition="{_e(cond)}"' + (f' id="{_e(css_id)}"' if css_id else "") + ' role="img" '
           f'aria-label="{_e(f"Flowchart of {procedure.title}")}">',
           f'<defs><marker id="{_e(marker)}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" '
           'markerHeight="9" markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>']
    for src, dst, when in procedure.edges():
        if src not in pos or dst not in pos:
            continue
        e = edges.get((src, dst))
        rate = e.pass_rate if e else None
        traversals = e.traversals if e else 0
        stroke = pass_colour(rate) if e and e.traversals else "#b5b5b5"
        widthpx = 1.2 + min(3.0, math.log1p(traversals))
        tip = f"{src} → {dst}" + (f" ({when})" if when else "")
        if e:
            tip += f": taken {traversals}× in {e.conversations} conversations" + (
                f", {rate:.0%} of them valid traces" if rate is not None else "")
        out.append(f'<g class="edge" data-edge="{_e(f"{src}->{dst}")}" data-source="{_e(src)}" '
                   f'data-target="{_e(dst)}" data-pass-rate="{"" if rate is None else f"{rate:.4f}"}">'
                   f'<title>{_e(tip)}</title><path d="{_edge_path(pos[src], pos[dst], src == dst)}" fill="none" '
                   f'stroke="{stroke}" stroke-width="{_f(widthpx)}" marker-end="url(#{_e(marker)})"/></g>')
    for nid, node in procedure.nodes.items():
        x, y = pos[nid]
        t = nodes.get(nid)
        rate = t.pass_rate if t else None
        classes = ["node", node.role.value] + (["hub"] if nid in hubs else []) + (
            ["terminal", node.terminal.value] if node.terminal else []) + ([] if t and t.visits else ["unvisited"]) + (
            [marked[nid]] if nid in marked else [])
        stats = f"pass {rate:.0%} · {t.visits} turns" if t and rate is not None else ("not reached" if trace else "")
        tip = f"{nid}: {node.prompt}" + (f"\n{stats}, coverage {t.coverage:.0%}" if t and rate is not None else "")
        role_colour = COLOURS[node.role.value]
        border = MARKED.get(marked.get(nid, ""), COLOURS[node.terminal] if node.terminal else "#444")
        dash = ' stroke-dasharray="5 2"' if nid in hubs else ""
        out.append(
            f'<g class="{" ".join(classes)}" data-node="{_e(nid)}" data-pass-rate="{"" if rate is None else f"{rate:.4f}"}" '
            f'data-visits="{t.visits if t else 0}"><title>{_e(tip)}</title>'
            f'<rect x="{_f(x - NODE_W / 2)}" y="{_f(y - NODE_H / 2)}" width="{NODE_W}" height="{NODE_H}" '
            f'rx="{14 if node.terminal else 4}" fill="{pass_colour(rate, light=True) if trace else "#fff"}" '
            f'stroke="{border}" stroke-width="{3.5 if nid in marked else 2.5 if node.terminal or nid in hubs else 1.2}"'
            f'{dash}/>'
            f'<rect x="{_f(x - NODE_W / 2)}" y="{_f(y - NODE_H / 2)}" width="5" height="{NODE_H}" fill="{role_colour}"/>'
            f'<text x="{_f(x + 2)}" y="{_f(y - 3 if stats else y + 4)}" font-size="12" text-anchor="middle">{_e(_label(procedure, nid))}</text>'
            + (f'<text x="{_f(x + 2)}" y="{_f(y + 13)}" font-size="10" text-anchor="middle" fill="#333">{_e(stats)}</text>'
               if stats else "")
            + "</g>")
    out.append("</svg>")
    return "".join(out)


def flowcharts(procedure: Procedure, traces: Mapping[str, TraceCoverage]) -> dict[str, str]:
    """One flowchart per condition, keyed by condition."""
    return {c: flowchart_svg(procedure, t, css_id=f"flow-{procedure.name}-{c}") for c, t in traces.items()}
