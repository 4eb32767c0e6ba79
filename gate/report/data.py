"""The pure builder of the report's data (the models are in `views.py`).

`build_procedure_report` turns one procedure's evaluated conversations into every number
the HTML shows (the paper's Tables 1–3, Appendix B comparisons, failure rates, Table 4
conversation statistics, Table 6 cost, judge agreement, trace-judge coverage), and
`build_report` bundles procedures into a `ReportData`.

Determinism: the builder depends only on its inputs (fixed bootstrap seeds, conditions and
scenarios in sorted order); see `views.py` for how timings stay out of report.json.

Comparisons follow the paper's Appendix B orientation: the reference condition (normally
the compiled "subterranean" model) is A and each other condition is B, so Δ and Cohen's d
are reference − other (positive = the reference scores higher).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gate.against.comparison import EditComparison
from gate.checks import conversation_key
from gate.report.reliability import ConditionReliability, condition_reliability
from gate.report.transcripts import trace_coverage, transcript_view
from gate.report.views import (
    ConditionCostView,
    ConditionSummary,
    JudgeAgreementView,
    ProcedureReport,
    ReportData,
    is_offline_model,
)
from gate.result_store import ConversationResult, scores_by_trial
from harness.conditions import reference_condition
from harness.cost import ConditionCost, Hosting, condition_cost, condition_usage
from harness.incidents import handling
from harness.judges.actions import summarize_actions
from harness.judges.agreement import agreement
from harness.judges.rubric import CRITERIA, Scores
from harness.llm.pricing import Overrides, Price, UnknownPriceError, price_for
from harness.procedure import Procedure
from harness.scenarios import Scenario
from harness.stats import (
    CI,
    N_RESAMPLES,
    Comparison,
    align_by_scenario,
    bootstrap_mean_ci,
    cluster_bootstrap_ci,
    compare_conditions,
    conversation_stats,
    failure_rate,
)

__all__ = ["build_procedure_report", "build_report"]


# ---- builder --------------------------------------------------------------------------------

def _ordered_conditions(results: Mapping[str, Sequence[ConversationResult]], reference: str) -> list[str]:
    others = sorted(c for c in results if c != reference)
    return ([reference] if reference in results else []) + others


def _sorted_results(rs: Sequence[ConversationResult]) -> list[ConversationResult]:
    return sorted(rs, key=lambda r: (r.transcript.scenario_index, r.transcript.trial))


def _criterion_cis(scores: Sequence[Scores], seed: int, n_resamples: int,
                   clusters: Sequence[int] | None = None) -> dict[str, CI]:
    # Same generator per criterion as `stats.compare_conditions`, so the columns of Tables 1–3 show the
    # very intervals the pairwise comparisons print for the same sample. Several trials of a
    # scenario are one cluster: the interval resamples scenarios.
    if not scores:
        return {}
    if clusters is not None and len(set(clusters)) < len(clusters):
        return {c: cluster_bootstrap_ci([s.get(c) for s in scores], clusters, n_resamples=n_resamples,
                                        seed=np.random.default_rng([seed, i]))
                for i, c in enumerate(CRITERIA)}
    return {c: bootstrap_mean_ci([s.get(c) for s in scores], n_resamples=n_resamples,
                                 seed=np.random.default_rng([seed, i]))
            for i, c in enumerate(CRITERIA)}


def _summary(condition: str, rs: list[ConversationResult], ref_means: dict[str, CI] | None,
             seed: int, n_resamples: int, reliability: ConditionReliability | None = None) -> ConditionSummary:
    scored = [r for r in rs if r.scores is not None]
    scores = [r.scores for r in scored]
    means = _criterion_cis(scores, seed, n_resamples, [r.transcript.scenario_index for r in scored])
    pct = {}
    if ref_means:
        pct = {c: 100.0 * means[c].estimate / ref_means[c].estimate
               for c in means if ref_means.get(c) and ref_means[c].estimate}
    stats = conversation_stats([r.transcript for r in rs])
    offline_keys = sorted({k for r in rs for k in r.offline_scores})
    offline_means = {k: float(np.mean([r.offline_scores[k] for r in rs if k in r.offline_scores]))
                     for k in offline_keys}
    ends: dict[str, int] = {}
    for r in rs:
        ends[r.transcript.end_reason] = ends.get(r.transcript.end_reason, 0) + 1
    return ConditionSummary(
        condition=condition, n=len(rs), n_scored=len(scores),
        judge_failures=sum(all(j.scores is None for j in r.judges) for r in rs),
        means=means, percent_of_reference=pct, offline_means=offline_means,
        # The agent's failure rate: conversations a simulated-user fault spoiled are counted apart.
        failure=failure_rate(agents) if (agents := [r.scores for r in scored if not r.simulator_faults]) else None,
        mean_turns=stats.mean_turns, mean_agent_turns=stats.mean_agent_turns,
        mean_words=stats.mean_words, one_question_share=stats.one_question_share,
        end_reasons=dict(sorted(ends.items())),
        valid_trace_share=sum(r.verdict.valid for r in rs) / len(rs),
        trials=reliability.trials if reliability else 1,
        pass_k=reliability.pass_k if reliability else {},
        simulator_faults=sum(bool(r.simulator_faults) for r in rs),
    )


def _comparison(reference: str, ref: list[ConversationResult], condition: str,
                other: list[ConversationResult], seed: int, n_resamples: int) -> tuple[Comparison | None, str]:
    a = scores_by_trial(ref)
    b = scores_by_trial(other)
    if not a or not b:
        return None, f"{reference} vs {condition}: no scored conversations to compare"
    clusters = None
    try:
        # Conditions of one run share scenario indices: pair them by (scenario, trial)
        # (Wilcoxon signed-rank), the CIs clustered by scenario.
        keys, sa, sb = align_by_scenario(a, b)
        paired, clusters = True, [i for i, _ in keys]
    except ValueError:
        sa, sb, paired = [a[i] for i in sorted(a)], [b[i] for i in sorted(b)], False
    cmp = compare_conditions(sa, sb, paired=paired, label_a=reference, label_b=condition, seed=seed,
                             n_resamples=n_resamples, clusters=clusters)
    note = "" if paired else f"{reference} vs {condition}: no shared scenarios, compared unpaired (Mann–Whitney U)"
    return cmp, note


def _price(condition: str, model: str, hosting: Hosting, condition_prices: Mapping[str, Price],
           overrides: Overrides) -> tuple[Price | None, str]:
    if condition in condition_prices:
        return condition_prices[condition], ""
    try:
        return price_for(model, overrides), ""
    except UnknownPriceError:
        return None, f"no price known for {model!r} ({hosting}); pass condition_prices to price it"


def _costs(conditions: list[str], results: Mapping[str, list[ConversationResult]], reference: str,
           condition_prices: Mapping[str, Price], overrides: Overrides,
           hosting: Mapping[str, Hosting]) -> list[ConditionCostView]:
    rows: list[tuple[str, str, Hosting, ConditionCost | None, str, float, float]] = []
    for cond in conditions:
        ts = [r.transcript for r in results[cond]]
        models = sorted({t.agent_model for t in ts})
        model = ", ".join(models)
        host: Hosting = hosting.get(cond) or ("self_hosted" if model.startswith("local:") else "api")
        cost, note = None, ""
        if len(models) > 1 and cond not in condition_prices:
            note = f"mixed agent models {models}; pass condition_prices to price them"
        else:
            price, note = _price(cond, models[0], host, condition_prices, overrides)
            if price is not None:
                cost = condition_cost(condition_usage(cond, ts, hosting=host, generation_price=price))
        n = len(ts)
        rows.append((cond, model, host, cost, note,
                     sum(t.user_usage.input_tokens for t in ts) / n,
                     sum(t.user_usage.output_tokens for t in ts) / n))
    ref_cost = next((c for name, _, _, c, *_ in rows if name == reference), None)
    denominator = ref_cost.total_per_conversation if ref_cost is not None else 0.0
    return [ConditionCostView(
        condition=cond, agent_model=model, hosting=host, cost=cost,
        # A free reference (offline, $0) has no meaningful ratio: leave it undefined.
        ratio_to_reference=(cost.total_per_conversation / denominator
                            if cost is not None and denominator > 0 else None),
        user_input_tokens_per_conversation=uin, user_output_tokens_per_conversation=uout, note=note)
        for cond, model, host, cost, note, uin, uout in rows]


def _judge_order(results: Mapping[str, list[ConversationResult]], conditions: list[str]) -> list[str]:
    order: list[str] = []
    for cond in conditions:
        for r in results[cond]:
            for j in r.judges:
                if j.judge not in order:
                    order.append(j.judge)
    return order


def _agreement(results: Mapping[str, list[ConversationResult]], conditions: list[str],
               judges: list[str]) -> list[JudgeAgreementView]:
    """Primary judge against each other judge, pooled over conditions where both scored."""
    scoring = [j for j in judges if any(jr.judge == j and jr.scores is not None
                                        for c in conditions for r in results[c] for jr in r.judges)]
    views = []
    for other in scoring[1:]:
        a, b, where = [], [], []
        for cond in conditions:
            for r in results[cond]:
                by = {jr.judge: jr.scores for jr in r.judges if jr.scores is not None}
                if scoring[0] in by and other in by:
                    a.append(by[scoring[0]])
                    b.append(by[other])
                    where.append((cond, r.transcript.scenario_index))
        if a:
            views.append(JudgeAgreementView(
                report=agreement(a, b, judge_a=scoring[0], judge_b=other), conversations=where))
    return views


def _offline_models(results: Mapping[str, list[ConversationResult]]) -> list[str]:
    ids = set()
    for rs in results.values():
        for r in rs:
            ids.update({r.transcript.agent_model, r.transcript.user_model})
            ids.update(j.judge for j in r.judges)
    return sorted(m for m in ids if m and is_offline_model(m))


def _stand_in_judges_note(results: Mapping[str, list[ConversationResult]]) -> list[str]:
    """Said plainly when the scores came from another model than the judges named (the
    rehearsal's small local model behind the vendors' wire formats)."""
    answered: dict[str, set[str]] = {}
    for rs in results.values():
        for r in rs:
            for j in r.judges:
                if j.scores is not None and j.model and j.judge.split(":", 1)[-1] not in j.model:
                    answered.setdefault(j.judge, set()).add(j.model)
    if not answered:
        return []
    models = sorted(set().union(*answered.values()))
    same = " With one model behind every judge, their agreement measures nothing." if len(models) == 1 \
        and len(answered) > 1 else ""
    return [f"judges {', '.join(sorted(answered))} were answered by {', '.join(models)}, a stand-in: its scores "
            "have the rubric's shape (decoding held to the schema) and show that the scoring path works, "
            f"not how good the conversations are.{same}"]


def build_procedure_report(
    procedure: Procedure,
    results: Mapping[str, Sequence[ConversationResult]],
    *,
    reference: str | None = None,
    compile_info: Mapping[str, Any] | None = None,
    condition_prices: Mapping[str, Price] | None = None,
    price_overrides: Overrides = None,
    hosting: Mapping[str, Hosting] | None = None,
    projected: Mapping[str, str] | None = None,
    seed: int = 0,
    n_resamples: int = N_RESAMPLES,
    changes: EditComparison | None = None,
    scenarios: Sequence[Scenario] = (),
    stage_seconds: Mapping[str, float | None] | None = None,
) -> ProcedureReport:
    """Every figure of one procedure's report section from its evaluated conversations.

    `results` maps condition -> its ConversationResults. Prices: `condition_prices` (e.g. a
    `self_hosted_price` for the compiled model) win; otherwise the agent model's list price
    via `price_for(model, price_overrides)`; unknown prices leave the cost undefined with a
    note. `hosting` defaults to "self_hosted" for "local:" models, "api" otherwise.
    `projected` names, per condition, the model whose list price its `condition_prices`
    entry is (offline tokens priced as if that model had spoken them).
    `compile_info` is shown as given; keep durations out of it (put them in timings).
    `stage_seconds`: per condition, how long its conversations and their judging took (timings).
    `scenarios` (their intended paths) add pass^k per path and per node.
    """
    reference = reference or reference_condition()
    res = {c: _sorted_results(rs) for c, rs in results.items() if rs}
    if not res:
        raise ValueError(f"procedure {procedure.name!r}: expected results for at least one condition, found none")
    conditions = _ordered_conditions(res, reference)
    notes = []
    if reference not in res:
        notes.append(f"reference condition {reference!r} has no results; comparisons, ratios "
                     "and % of reference are left out")
    reliability = {c: condition_reliability(c, res[c], scenarios) for c in conditions}
    ref_summary = (_summary(reference, res[reference], None, seed, n_resamples, reliability[reference])
                   if reference in res else None)
    summaries = [ref_summary if c == reference and ref_summary is not None
                 else _summary(c, res[c], ref_summary.means if ref_summary else None, seed, n_resamples,
                               reliability[c])
                 for c in conditions]
    if ref_summary is not None and ref_summary.means:
        # the reference's own % column is 100 by definition
        summaries[0] = ref_summary.model_copy(update={"percent_of_reference": {c: 100.0 for c in ref_summary.means}})
    comparisons = []
    if reference in res:
        for c in conditions[1:]:
            cmp, note = _comparison(reference, res[reference], c, res[c], seed, n_resamples)
            if cmp is not None:
                comparisons.append(cmp)
            if note:
                notes.append(note)
    judges = _judge_order(res, conditions)
    notes += _stand_in_judges_note(res)
    offline_models = _offline_models(res)
    timings = {"conditions": {c: {
        "mean_wall_clock_s": conversation_stats([r.transcript for r in res[c]]).mean_wall_clock_s,
        "total_wall_clock_s": sum(r.transcript.wall_clock_s for r in res[c]),
        "wall_clock_s": {conversation_key((r.transcript.scenario_index, r.transcript.trial)): r.transcript.wall_clock_s
                         for r in res[c]},
    } | ({"stage_s": seconds} if (seconds := (stage_seconds or {}).get(c)) is not None else {})
        for c in conditions}}
    return ProcedureReport(
        procedure=procedure, reference=reference, conditions=conditions,
        offline=bool(offline_models), offline_models=offline_models, judges=judges,
        seed=seed, n_resamples=n_resamples, summaries=summaries, comparisons=comparisons,
        costs=[c.model_copy(update={"projected_at": (projected or {}).get(c.condition)})
               for c in _costs(conditions, res, reference, condition_prices or {}, price_overrides, hosting or {})],
        handling={c: handling([r.transcript for r in res[c]], [r.judges for r in res[c]]) for c in conditions},
        actions=[summarize_actions(c, verdicts) for c in conditions
                 if (verdicts := [r.actions for r in res[c] if r.actions is not None])],
        agreement=_agreement(res, conditions, judges),
        trace=[trace_coverage(procedure, c, res[c]) for c in conditions],
        transcripts=[transcript_view(r) for c in conditions for r in res[c]],
        compile_info=dict(sorted((compile_info or {}).items())), notes=notes, timings=timings,
        changes=changes, reliability=[reliability[c] for c in conditions],
    )


def build_report(run_name: str, procedures: Sequence[ProcedureReport], *,
                 models: Mapping[str, str] | None = None,
                 timings: Mapping[str, Any] | None = None) -> ReportData:
    """Bundle procedure reports; offline if any model involved is the offline backend."""
    models = dict(sorted((models or {}).items()))
    offline = any(p.offline for p in procedures) or any(is_offline_model(m) for m in models.values())
    merged = dict(timings or {})
    merged["procedures"] = {p.name: p.timings for p in procedures}
    return ReportData(run_name=run_name, offline=offline, procedures=list(procedures), models=models,
                      timings=merged)

