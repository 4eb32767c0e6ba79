"""The "Changes since REF" tables as Markdown (`changes.md` beside the report), for a CI
job summary or a pull-request comment; the HTML report shows the same data."""

from __future__ import annotations

from gate.report.data import ReportData
from gate.verdicts import RULE, VERDICT_LABELS

CHANGES_MD = "changes.md"


def _num(x: float | None, sign: bool = False) -> str:
    if x is None:
        return "—"
    return (f"{x:+.2f}" if sign else f"{x:.2f}").replace("-", "−")


def changes_markdown(data: ReportData) -> str:
    """One section per procedure compared with an earlier version: the structural diff and
    the before/after table with verdicts."""
    out = []
    for p in data.procedures:
        c = p.changes
        if c is None:
            continue
        offline = " (offline scores)" if data.offline else ""
        out += [f"### {p.procedure.title}: changes since {c.ref}{offline}", "", "```", c.diff.summary(), "```", "",
                "| condition | criterion | before | after | Δ | 95 % CI | pairs | p (Holm) | verdict |",
                "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | --- |"]
        for r in c.criteria:
            mark = VERDICT_LABELS[r.verdict]
            if r.verdict == "inconclusive":
                mark = f"**{mark}**" + (f" (≈ {r.needed} scenarios would decide)" if r.needed else "")
            p_holm = "—" if r.p_holm is None else f"{r.p_holm:.3g}"
            moved = f" ({len(r.path_changed)} moved)" if r.path_changed else ""
            pairs = f"{r.scenarios}" + (f" × {r.pairs / r.scenarios:.3g} trials" if r.pairs > r.scenarios else "")
            out.append(f"| {r.condition} | {r.criterion} | {_num(r.before)} | {_num(r.after)} | "
                       f"{_num(r.delta, True)} | [{_num(r.low, True)}, {_num(r.high, True)}] | {pairs}{moved} | "
                       f"{p_holm} | {mark} |")
        undecided = c.inconclusive
        if undecided:
            policy = "fail the gate" if undecided[0].on_inconclusive == "fail" else "do not fail the gate"
            out += ["", f"> **⚠️ {len(undecided)} inconclusive** ({policy}): "
                    + "; ".join(f"{r.condition} {r.criterion}" for r in undecided)
                    + ". The evidence neither shows a drop nor rules one out; run more scenarios."]
        out += ["", f"Margin {_num(c.criteria[0].margin, True) if c.criteria else '—'}; pairs are (scenario, trial), "
                f"CIs clustered by scenario. Verdicts: {RULE}.", ""]
    return "\n".join(out)
