"""The scripted backend: declared and python tools, per-scenario arrangement (0 scenarios whose
backend contradicts their path), failures as error results, and scenario-set validation."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from harness.backend import Backend, BackendSpec, ToolFailure, replay_path, result_name
from harness.errors import SpecErrors
from harness.procedure import load_procedure
from harness.scenarios import load_scenario_set, sample_scenarios

HERE = Path(__file__).parent
ROOT = HERE.parents[2]


def card_dispute():
    return (load_procedure(ROOT / "procedures" / "card_dispute.yaml"),
            load_scenario_set(ROOT / "scenarios" / "card_dispute.yaml"))


def test_declared_lookup_create_and_mismatch() -> None:
    spec = BackendSpec.model_validate({
        "tables": {"cards": [], "disputes": []},
        "tools": {"verify": {"lookup": "cards", "match": {"last4": "last4"}, "check": {"holder": "name"},
                             "results": {"found": "ok", "missing": "no", "mismatch": "no"}},
                  "file": {"create": "disputes", "fields": {"last4": "last4"}, "unique": ["last4"]}}})
    backend = Backend(spec, {"cards": [{"last4": "1234", "holder": "Ann Lee"}], "disputes": []})
    assert backend.execute("verify", {"last4": "1234", "name": "ann lee "})["result"] == "ok"
    assert backend.execute("verify", {"last4": "1234", "name": "Bob"})["result"] == "no"
    assert backend.execute("verify", {"last4": "9999", "name": "Ann Lee"})["result"] == "no"
    assert backend.execute("file", {"last4": "1234"}) == {"result": "created", "id": "disputes-1"}
    assert backend.execute("file", {"last4": "1234"}) == {"result": "duplicate"}
    assert backend.snapshot()["disputes"] == [{"id": "disputes-1", "last4": "1234"}]


def test_card_dispute_has_no_scenario_whose_backend_contradicts_its_path() -> None:
    proc, scenario_set = card_dispute()
    scenarios = sample_scenarios(scenario_set, proc, 200, 3)
    assert {s.path[-1] for s in scenarios} == {"not_verified", "charge_missing", "decline", "dispute_filed",
                                              "already_open"}
    contradicting = 0
    for s in scenarios:
        assert s.backend is not None
        replay = replay_path(s.backend.spec, proc, s.path, s.context, s.backend.initial)
        contradicting += bool(replay.contradictions)
        assert replay.end_state == s.backend.expected_end
    assert contradicting == 0
    # Failing verification is arranged both ways the lookup can fail (missing card, other holder).
    failed = [s for s in scenarios if s.path[-1] == "not_verified"]
    kinds = Counter(any(c["card_last4"] == s.variables["card_last4"] for c in s.backend.initial["cards"])
                    for s in failed)
    assert kinds[True] and kinds[False]
    filed = next(s for s in scenarios if s.path[-1] == "dispute_filed")
    assert filed.backend.expected_end["disputes"][-1]["amount"] == filed.variables["amount"]


def test_scenarios_without_tools_keep_their_keys() -> None:
    # A procedure without tools gets no backend, so its scenarios serialise as before.
    proc = load_procedure(ROOT / "procedures" / "travel.yaml")
    s = sample_scenarios(load_scenario_set(ROOT / "scenarios" / "travel.yaml"), proc, 1, 0)[0]
    assert s.backend is None and "backend" not in s.model_dump()


def test_python_tool_with_arrange_and_failures() -> None:
    proc = load_procedure(HERE / "tool_mini.yaml")
    scenario_set = load_scenario_set(HERE / "tool_mini_scenarios.yaml")
    scenarios = sample_scenarios(scenario_set, proc, 12, 0)
    assert {s.path[-1] for s in scenarios} == {"confirmed", "sorry"}
    for s in scenarios:
        backend = Backend(s.backend.spec, s.backend.initial)
        reply = asyncio.run(backend.call("book_ride", {"address": s.variables["address"], "seats": s.variables["seats"]}))
        assert proc.result_edge("book", reply["result"]) == s.path[-1]
    backend = Backend(scenarios[0].backend.spec, scenarios[0].backend.initial)
    with pytest.raises(ToolFailure, match="raised RuntimeError: driver service is down"):
        asyncio.run(backend.call("book_ride", {"address": "CRASH", "seats": 1}))
    with pytest.raises(ToolFailure, match="no tool named 'nope'"):
        backend.execute("nope", {})


def test_a_tool_that_hangs_times_out() -> None:
    spec = BackendSpec.model_validate({"tools": {"slow": {"python": "tests.harness.backend.rides:slow",
                                                          "timeout_s": 0.2}}})
    with pytest.raises(ToolFailure, match="did not answer within 0.2 s"):
        asyncio.run(Backend(spec, {}).call("slow", {}))


def test_result_name_reads_tool_turns() -> None:
    assert result_name('{"result": "found", "x": 1}') == "found"
    assert result_name("not json") is None


@pytest.mark.parametrize(("old", "new", "expect"), [
    ("    book_ride:\n      python", "    order_taxi:\n      python",
     "backend declares no behaviour for tool 'book_ride'"),
    ("tests.harness.backend.rides:book", "tests.harness.backend.rides:nothing",
     "cannot import python 'tests.harness.backend.rides:nothing'"),
    ("  seats: [1, 2, 3]", "  seats: [1, 2, 7]", "argument 'seats' is outside tool 'book_ride''s schema"),
])
def test_scenario_set_backend_errors(tmp_path: Path, old: str, new: str, expect: str) -> None:
    text = (HERE / "tool_mini_scenarios.yaml").read_text()
    assert old in text
    path = tmp_path / "scenarios.yaml"
    path.write_text(text.replace(old, new))
    with pytest.raises(SpecErrors) as info:
        sample_scenarios(load_scenario_set(path), load_procedure(HERE / "tool_mini.yaml"), 4, 0)
    assert expect in str(info.value)
    assert ".yaml:" in str(info.value)


def test_declared_results_must_cover_the_tools_results(tmp_path: Path) -> None:
    proc, _ = card_dispute()
    text = (ROOT / "scenarios" / "card_dispute.yaml").read_text()
    path = tmp_path / "s.yaml"
    path.write_text(text.replace("      unique: [card_last4, merchant, amount]\n", "")
                    .replace("{created: filed, duplicate: already_filed}", "{created: filed}"))
    with pytest.raises(SpecErrors, match="tool 'file_dispute' never returns 'already_filed'"):
        sample_scenarios(load_scenario_set(path), proc, 4, 0)


def test_two_tiers_reading_one_record_are_arranged_without_undoing_each_other() -> None:
    # Tier 1 finds the patient by number, tier 2 checks the birth date on that same record. A
    # failing tier 2 must not be arranged by removing the record (tier 1 would then fail too):
    # the arrangement passes over outcomes that change an earlier step's result.
    domain = ROOT / "tests" / "domains" / "doctor_appointment"
    proc = load_procedure(domain / "procedure.yaml")
    scenarios = sample_scenarios(load_scenario_set(domain / "scenarios.yaml"), proc, 200, 0)
    failed = [s for s in scenarios if s.path[-1] == "auth_failed"]
    assert failed
    for s in failed:
        record = [r for r in s.backend.initial["patients"] if r["number"] == s.variables["patient_number"]]
        assert record and record[0]["dob"] != s.variables["birthdate"]
    assert not any(replay_path(s.backend.spec, proc, s.path, s.context, s.backend.initial).contradictions
                   for s in scenarios)
