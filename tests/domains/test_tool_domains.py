"""Procedures that act, end to end offline: the shipped card dispute and flowcharts drawn by a
new user from a dialogue dataset (ride and taxi booking where the customer opens the chat, a
doctor's appointment behind two-tier authentication, a bank fraud report whose authentication
retries; node ids such as `yes` and `no`): validate, paths, 0 scenarios whose backend
contradicts their path, offline conversations whose backend ends as their path implies."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from harness.backend import replay_path
from harness.backend.arrange import repeated_call
from harness.conditions import build_condition
from harness.judges.actions import judge_actions, summarize_actions
from harness.llm import get_model
from harness.procedure import PathSpace, load_procedure
from harness.runner import run_conversations
from harness.scenarios import load_scenario_set, sample_scenarios
from harness.simulator import UserSimulator
from subterra.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOMAINS = {
    "card_dispute": (ROOT / "procedures" / "card_dispute.yaml", ROOT / "scenarios" / "card_dispute.yaml"),
    **{name: (ROOT / "tests" / "domains" / name / "procedure.yaml", ROOT / "tests" / "domains" / name / "scenarios.yaml")
       for name in ("ride_booking", "taxi_booking", "doctor_appointment")},
}


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_validate_prints_no_contradicting_scenario(domain: str, capsys: pytest.CaptureFixture) -> None:
    proc_path, scen_path = DOMAINS[domain]
    assert main(["validate", str(proc_path), str(scen_path)]) == 0
    assert "0 whose backend contradicts their path" in capsys.readouterr().out


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_every_path_is_drawn_and_none_contradicts_its_backend(domain: str) -> None:
    proc_path, scen_path = DOMAINS[domain]
    proc, scenario_set = load_procedure(proc_path), load_scenario_set(scen_path)
    scenarios = sample_scenarios(scenario_set, proc, 100, 11)
    assert {s.path for s in scenarios} == set(PathSpace(proc).enumerate())
    assert sum(bool(replay_path(s.backend.spec, proc, s.path, s.context, s.backend.initial).contradictions)
               for s in scenarios) == 0


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_offline_orchestrated_acts_right(domain: str) -> None:
    proc_path, scen_path = DOMAINS[domain]
    proc = load_procedure(proc_path)
    scenarios = sample_scenarios(load_scenario_set(scen_path), proc, 8, 2)
    offline = get_model("offline")
    transcripts = asyncio.run(run_conversations(build_condition("orchestrated", proc, offline),
                                                UserSimulator(offline, proc), scenarios))
    summary = summarize_actions("orchestrated", [judge_actions(proc, s, t) for s, t in zip(scenarios, transcripts,
                                                                                           strict=True)])
    assert summary.end_state_match_rate == 1.0 and summary.tool_call_accuracy == 1.0
    assert [t.terminal or t.turns[-1].speaker for t in transcripts]   # every conversation ended somewhere


def test_a_retry_that_repeats_a_lookup_draws_only_paths_that_can_happen(capsys: pytest.CaptureFixture) -> None:
    # Failing authentication and passing it on the retry with the same details cannot happen
    # (a lookup answers the same call alike): sampling draws other walks in their place, the
    # loop is still exercised (every try failing), and validate says how many it redrew.
    domain = ROOT / "tests" / "domains" / "bank_fraud"
    proc, scenario_set = load_procedure(domain / "procedure.yaml"), load_scenario_set(domain / "scenarios.yaml")
    scenarios = sample_scenarios(scenario_set, proc, 60, 0)
    assert not any(repeated_call(scenario_set.backend, proc, s.path) for s in scenarios)
    assert any(s.path.count("auth1") == 2 for s in scenarios)
    assert not any(replay_path(s.backend.spec, proc, s.path, s.context, s.backend.initial).contradictions
                   for s in scenarios)
    assert sample_scenarios(scenario_set, proc, 60, 0) == scenarios          # deterministic
    assert main(["validate", str(domain / "procedure.yaml"), str(domain / "scenarios.yaml")]) == 0
    out = capsys.readouterr().out
    assert "0 whose backend contradicts their path" in out and "could not happen with the declared tools and were redrawn" in out


OUTSIDE = ("taxi_booking", "doctor_appointment", "bank_fraud")


@pytest.mark.parametrize("domain", OUTSIDE)
def test_outside_flowchart_validate_sample_and_act_through_langgraph(domain: str,
                                                                    capsys: pytest.CaptureFixture) -> None:
    # A flowchart drawn by a new user, end to end offline: validate, sample (every scenario's
    # backend consistent with its path), then the LangGraph baseline's conversations: its
    # backend ends where each path implies in most conversations, and its calls are right.
    proc_path = ROOT / "tests" / "domains" / domain / "procedure.yaml"
    scen_path = proc_path.with_name("scenarios.yaml")
    assert main(["validate", str(proc_path), str(scen_path)]) == 0
    assert "0 whose backend contradicts their path" in capsys.readouterr().out
    proc = load_procedure(proc_path)
    scenarios = sample_scenarios(load_scenario_set(scen_path), proc, 10, 5)
    assert len({s.path[-1] for s in scenarios}) >= 2          # failure branches drawn too
    offline = get_model("offline")
    transcripts = asyncio.run(run_conversations(build_condition("langgraph", proc, offline),
                                                UserSimulator(offline, proc), scenarios))
    verdicts = [judge_actions(proc, s, t) for s, t in zip(scenarios, transcripts, strict=True)]
    summary = summarize_actions("langgraph", verdicts)
    assert summary.end_state_match_rate >= 0.8 and summary.tool_call_accuracy >= 0.8, summary
    writes = [v for v, s in zip(verdicts, scenarios, strict=True) if s.backend.expected_end != s.backend.initial]
    assert writes and sum(v.end_state_match for v in writes) >= 0.8 * len(writes)   # not only read-only paths
    assert all(t.backend_end is not None and not t.error for t in transcripts)


def test_a_branch_the_declared_tools_cannot_give_is_never_drawn(capsys: pytest.CaptureFixture) -> None:
    # The late checkout updates the record the verification just found by the same room and
    # name, so "verified, then not allowed" cannot happen: those walks are redrawn, and
    # validate says so instead of stopping with a contradiction.
    domain = ROOT / "tests" / "domains" / "hotel_service"
    proc, scenario_set = load_procedure(domain / "procedure.yaml"), load_scenario_set(domain / "scenarios.yaml")
    scenarios = sample_scenarios(scenario_set, proc, 60, 0)
    assert not any(("late", "escalate") in zip(s.path, s.path[1:], strict=False) for s in scenarios)
    assert {s.path[-1] for s in scenarios} == {"wrong", "logged", "escalate", "other"}
    assert not any(replay_path(s.backend.spec, proc, s.path, s.context, s.backend.initial).contradictions
                   for s in scenarios)
    assert main(["validate", str(domain / "procedure.yaml"), str(domain / "scenarios.yaml")]) == 0
    assert "could not happen with the declared tools and were redrawn" in capsys.readouterr().out
