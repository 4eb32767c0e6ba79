"""`--against REF`: what changed between two versions, and which conversations may be reused."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest

from gate.against.reuse import Edit, reusable_transcripts
from gate.conversations import run_transcripts
from gate.result_store import ConversationResult
from gate.run import ProcedureRun
from gate.suite import load_suite
from harness.judges.trace import TraceVerdict
from harness.procedure import load_procedure
from harness.procedure.diff import touched_nodes
from harness.transcript import Transcript
from tests.conftest import ROOT, git


def _edit(repo: Path, old: str, new: str) -> None:
    path = repo / "procedures/travel.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _travel():
    return load_procedure(ROOT / "procedures/travel.yaml")


def test_touched_nodes_are_the_changed_ones_and_those_right_before_them() -> None:
    old = _travel()
    new = old.model_copy(deep=True)
    new.nodes["confirm_booking"].prompt += " Thank them."
    assert touched_nodes(old, new) == {"confirm_booking", "summarize_booking"}   # its only predecessor
    hub = new.nodes["present_options"]
    hub.next = [hub.edges[0].model_copy(update={"when": "something else entirely"}), *hub.edges[1:]]
    before_hub = {n for n in new.nodes if "present_options" in new.successors(n)}
    assert before_hub and touched_nodes(old, new) == {"confirm_booking", "summarize_booking", "present_options",
                                                      *before_hub}
    assert touched_nodes(old, old) == frozenset()
    assert touched_nodes(old, old.model_copy(update={"system_prompt": "You are terse."})) is None


def _transcript(condition: str, visited: list[str], end_reason: str = "terminal") -> Transcript:
    return Transcript(procedure="travel_booking", condition=condition, scenario_index=0, turns=[],
                      end_reason=end_reason, visited=visited)


def test_reuse_needs_a_local_condition_the_same_scenario_and_a_clear_route() -> None:
    scenario = SimpleNamespace(path=("greet", "share_preferences", "booked"))
    other = SimpleNamespace(path=("greet", "handoff"))
    edit = Edit("HEAD~1", frozenset({"ask_details"}))
    clear = ["greet", "share_preferences", "booked"]
    assert edit.can_reuse(_transcript("orchestrated", clear), scenario, scenario)
    assert edit.can_reuse(_transcript("langgraph", clear), scenario, scenario)
    assert not edit.can_reuse(_transcript("in_context", clear), scenario, scenario)      # reads everything
    assert not edit.can_reuse(_transcript("subterranean", clear), scenario, scenario)    # recompiled
    assert not edit.can_reuse(_transcript("orchestrated", clear), other, scenario)       # scenario moved
    assert not edit.can_reuse(_transcript("orchestrated", [*clear[:2], "ask_details"]), scenario, scenario)
    assert not edit.can_reuse(_transcript("orchestrated", []), scenario, scenario)       # route unknown
    assert not edit.can_reuse(_transcript("orchestrated", clear, "agent_error"), scenario, scenario)
    assert not Edit("HEAD~1", None).can_reuse(_transcript("orchestrated", clear), scenario, scenario)


def _record_old_run(run: ProcedureRun, condition: str) -> None:
    """Run the earlier version's conversations offline and store them as its results."""
    old = run.previous[0]
    transcripts = asyncio.run(run_transcripts(old, SimpleNamespace(model_spec="offline"), condition, old.scenarios))
    verdict = TraceVerdict(nodes=[], confidence=[], valid=True, off_chart_steps=[], skipped_nodes=[], terminal=None,
                           terminal_kind=None, expected_terminal=None, terminal_fits=None, repeated_questions=[],
                           node_visits={}, node_passes={}, edge_visits={})
    for t in transcripts:
        old.results.put(ConversationResult(transcript=t, verdict=verdict, judges=[], offline_scores={}))


def test_an_edited_prompt_reuses_exactly_the_conversations_that_never_reached_it(travel_repo: Path) -> None:
    _edit(travel_repo, "prompt: Confirm that the agent should book the trip.",
          "prompt: Confirm that the agent should book the trip, and ask for the receipt by email.")
    suite = load_suite(travel_repo / "edits.gate.yaml")
    run = ProcedureRun(suite, suite.procedures[0], travel_repo, against="HEAD")
    old, edit = run.previous
    assert old.fingerprint != run.fingerprint and edit.touched
    assert edit.touched == {"confirm_booking", "summarize_booking"}
    _record_old_run(run, "orchestrated")
    _record_old_run(run, "in_context")

    indices = [s.index for s in run.base_scenarios]
    reused = {i: t for (i, _), t in reusable_transcripts(run, "orchestrated", [(i, 0) for i in indices]).items()}
    old_results = {r.transcript.scenario_index: r.transcript for r in old.results.all(old.procedure.name, "orchestrated")}
    expected = {i for i in indices
                if not edit.touched & {*run.scenarios[i].path, *old_results[i].visited}}
    assert set(reused) == expected and 0 < len(expected) < len(indices)
    assert all(t.reused_from == "HEAD" and t.turns == old_results[i].turns for i, t in reused.items())
    assert reusable_transcripts(run, "in_context", [(i, 0) for i in indices]) == {}


def test_a_system_prompt_edit_reuses_nothing(travel_repo: Path) -> None:
    text = (travel_repo / "procedures/travel.yaml").read_text()
    start = text.index("system_prompt:")
    _edit(travel_repo, text[start:text.index("\n", start)], "system_prompt: You are a terse travel agent.")
    suite = load_suite(travel_repo / "edits.gate.yaml")
    run = ProcedureRun(suite, suite.procedures[0], travel_repo, against="HEAD")
    _record_old_run(run, "orchestrated")
    assert run.previous[1].touched is None
    assert reusable_transcripts(run, "orchestrated", [(s.index, 0) for s in run.scenarios]) == {}


def test_without_a_version_at_the_ref_nothing_is_reused(travel_repo: Path) -> None:
    suite = load_suite(travel_repo / "edits.gate.yaml")
    assert ProcedureRun(suite, suite.procedures[0], travel_repo).previous is None
    git(travel_repo, "rm", "-q", "--cached", "procedures/travel.yaml")
    git(travel_repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "untrack")
    assert ProcedureRun(suite, suite.procedures[0], travel_repo, against="HEAD").previous is None


@pytest.mark.parametrize("condition", ["orchestrated", "langgraph"])
def test_against_reuse_sees_every_step_of_a_chain(condition: str) -> None:
    # `--against` reuses a conversation only when no node its model read was edited; a
    # chain's reply read every step's prompt, so editing a middle step rules it out.
    from tests.harness.conditions.doubles import converse, shape

    proc, scenarios = shape("chain_loop")
    edited = proc.model_copy(deep=True)
    edited.nodes["instruct"].prompt = "Say the link expires in ten minutes and ask whether it worked."
    edit = Edit("HEAD~1", touched_nodes(proc, edited))
    for scenario, transcript in zip(scenarios, converse("chain_loop", condition), strict=True):
        assert "instruct" in transcript.visited
        assert not edit.can_reuse(transcript, scenario, scenario)
    untouched = Edit("HEAD~1", frozenset({"unrelated"}))
    assert all(untouched.can_reuse(t, s, s) for s, t in zip(scenarios, converse("chain_loop", condition), strict=True))
