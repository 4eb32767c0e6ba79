"""`subterra cost`: the paper's cost story (§5) from a gate report — per-conversation cost of
each condition, the frontier's priced at a named model's list price (*projected* when another
model spoke the tokens, e.g. offline), the in-context/compiled ratio and the break-even."""

from __future__ import annotations

import argparse
from typing import Any

from subterra.cli import EXIT_INPUT_ERROR, Command, command, console, err_console
from subterra.cli.reports import add_reports_argument, read_reports


def _rows(proc: dict[str, Any], price: Any, model: str) -> list[dict[str, Any]]:
    rows = []
    for view in proc["costs"]:
        c = view["cost"]
        if c is None:
            rows.append({"condition": view["condition"], "dollars": None, "label": view["note"]})
            continue
        if view["hosting"] == "api":       # the frontier: at the named model's list price
            dollars = (c["input_tokens_per_conversation"] * price.input_per_mtok
                       + c["output_tokens_per_conversation"] * price.output_per_mtok) / 1_000_000
            projected = view.get("projected_at") is not None or model not in view["agent_model"]
            rows.append({"condition": view["condition"], "dollars": dollars,
                         "label": f"{model} list price" + (" (projected)" if projected else "")})
        else:
            rows.append({"condition": view["condition"], "dollars": c["total_per_conversation"],
                         "label": "self-hosted GPU time"})
    return rows


@command("cost", "cost per conversation, in-context/compiled ratio and break-even, from a gate report")
def _cost(p: argparse.ArgumentParser) -> Command:
    add_reports_argument(p)
    p.add_argument("--model", default="claude-sonnet-4-5",
                   help="frontier model whose list price prices the frontier's tokens (default: claude-sonnet-4-5)")

    def run(args: argparse.Namespace) -> int:
        from harness.cost import break_even_conversations, dollars
        from harness.llm.base import Usage
        from harness.llm.pricing import UnknownPriceError, cost, price_for

        try:
            price = price_for(args.model)
        except UnknownPriceError as e:
            err_console.print(f"error: {e}", markup=False)
            return EXIT_INPUT_ERROR
        reports = read_reports(args.reports)
        if reports is None:
            return EXIT_INPUT_ERROR
        for data in reports:
            for proc in data["procedures"]:
                name = proc["procedure"]["name"]
                console.print(f"{data['run_name']} / {name}", style="bold")
                rows = {r["condition"]: r for r in _rows(proc, price, args.model)}
                for r in rows.values():
                    console.print(f"  {r['condition']:<14} {dollars(r['dollars']):>14} per conversation  {r['label']}",
                                  markup=False)
                sub, ic = rows.get("subterranean"), rows.get("in_context")
                e = data.get("timings", {}).get("economics", {}).get(name)
                if not (sub and ic and sub["dollars"] and ic["dollars"] is not None and e):
                    console.print("  (no in-context/compiled comparison in this report)")
                    continue
                c = e["compile"]
                datagen = (cost(Usage(**c["datagen_usage"]), price) if e["datagen_projected"]
                           else c["datagen_dollars"])
                once = datagen + c["training_dollars"]
                even = break_even_conversations(once, sub["dollars"], ic["dollars"])
                console.print(f"  in_context / subterranean: {ic['dollars'] / sub['dollars']:,.1f}×", markup=False)
                console.print(f"  compiling: {dollars(once)} once (data generation {dollars(datagen)}"
                              f"{' projected' if e['datagen_projected'] else ''}, fine-tuning "
                              f"{dollars(c['training_dollars'])}); pays for itself after "
                              + (f"{even:,} conversations" if even is not None else "never (not cheaper)"),
                              markup=False)
        return 0
    return run
