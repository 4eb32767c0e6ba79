"""The cost story offline: frontier tokens priced at the named model's list price, labelled
projected; the compiled model at GPU time; the break-even including the compile's cost."""

from __future__ import annotations

import json
import math
import re

from gate.report import build_procedure_report, build_report, write_report
from gate.report.economics import condition_pricing, projected_economics
from harness.cost import SELF_HOSTED
from harness.llm import Usage, cost, price_for
from subterra.cli import main
from tests.gate.report.conftest import ON_CHART, REF_TASK, make_result


def offline_results(procedure):
    kw = {"judge": "offline", "user_model": "offline", "nodes": ON_CHART}
    return {"subterranean": [make_result(procedure, "subterranean", i, t, agent_model="local:compiled-abc", **kw)
                             for i, t in enumerate(REF_TASK)],
            "in_context": [make_result(procedure, "in_context", i, t, agent_model="offline", **kw)
                           for i, t in enumerate(REF_TASK)]}


def test_offline_frontier_is_priced_at_sonnet_and_labelled_projected(procedure) -> None:
    results = offline_results(procedure)
    prices, projected, hosting = condition_pricing(list(results), "offline", {"in_context": {"offline"}})
    assert prices == {"subterranean": SELF_HOSTED, "in_context": price_for("claude-sonnet-4-5")}
    assert projected == {"in_context": "claude-sonnet-4-5"} and hosting["in_context"] == "api"
    report = build_procedure_report(procedure, results, condition_prices=prices, projected=projected, hosting=hosting)
    ic = next(c for c in report.costs if c.condition == "in_context")
    usage = sum((r.transcript.agent_usage for r in results["in_context"]), Usage())
    assert ic.cost.total_per_conversation == cost(usage, price_for("claude-sonnet-4-5")) / len(REF_TASK) > 0
    assert ic.projected_at == "claude-sonnet-4-5" and ic.ratio_to_reference > 50      # Sonnet vs an A100's time


def test_a_real_frontier_is_not_projected(procedure) -> None:
    _, projected, _ = condition_pricing(["in_context"], "anthropic:claude-sonnet-4-5",
                                        {"in_context": {"claude-sonnet-4-5-20250929"}})
    assert projected == {}
    _, projected, _ = condition_pricing(["in_context"], "anthropic:claude-sonnet-4-5",
                                        {"in_context": {"local:smollm2-135m"}})       # a rehearsal
    assert projected == {"in_context": "claude-sonnet-4-5"}


def test_break_even_includes_the_compiles_cost_and_the_command_prints_dollars(procedure, tmp_path, capsys) -> None:
    results = offline_results(procedure)
    prices, projected, hosting = condition_pricing(list(results), "offline", {"in_context": {"offline"}})
    report = build_procedure_report(procedure, results, condition_prices=prices, projected=projected, hosting=hosting)
    datagen = Usage(input_tokens=2_000_000, output_tokens=300_000, calls=900)
    e = projected_economics(report.costs, datagen_usage=datagen, generator_spec="offline", datagen_model="offline",
                            training_seconds=7200)
    once = cost(datagen, price_for("claude-sonnet-4-5")) + 2 * 2.50
    assert e["datagen_projected"] and math.isclose(e["compile"]["total_dollars"], once)
    by = {c.condition: c.cost.total_per_conversation for c in report.costs}
    assert e["economics"]["break_even_conversations"] == math.ceil(once / (by["in_context"] - by["subterranean"]))
    data = build_report("demo", [report], models={"frontier": "offline"},
                        timings={"economics": {procedure.name: e}})
    write_report(data, tmp_path / "demo")
    assert main(["cost", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "claude-sonnet-4-5 list price (projected)" in out and "self-hosted GPU time" in out
    assert f"pays for itself after {e['economics']['break_even_conversations']:,} conversations" in out
    assert not re.search(r"\de[-+]\d", out), out                       # never scientific notation
    assert "[bold]" not in out and "[/]" not in out                   # the CLI prints no markup verbatim
    html = (tmp_path / "demo" / "index.html").read_text()
    assert "projected at claude-sonnet-4-5" in html and not re.search(r"\$\d(\.\d+)?e[-+]", html)
    assert json.loads((tmp_path / "demo" / "report.json").read_text())["timings"]["economics"]


def test_handling_figures_per_condition_and_judge(procedure, tmp_path, capsys) -> None:
    from harness.judges.llm_judge import JudgeResult

    results = offline_results(procedure)
    first = results["in_context"][0]
    results["in_context"][0] = first.model_copy(update={
        "transcript": first.transcript.model_copy(update={"end_reason": "turn_cap"}),
        "judges": [JudgeResult(judge="offline", scores=None, failure="no JSON", invalid_replies=2)]})
    report = build_procedure_report(procedure, results)
    write_report(build_report("demo", [report]), tmp_path / "demo")
    assert main(["handling", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "in_context    unparsed routes 0/0, turn-cap endings 1/10 (10 %)" in out
    assert "judge offline: parse failures 1/10 (10 %), repaired 0/1 (0 %), unscored 1 (+0 failed calls)" in out
    assert "subterranean  unparsed routes 0/0, turn-cap endings 0/10 (0 %)" in out
