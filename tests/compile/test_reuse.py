"""A recompile after an edit generates only the conversations the edit touched."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from compile.datagen import DatagenConfig, generate_dataset
from compile.reuse import ConversationPool
from harness.llm import get_model
from harness.procedure import load_procedure
from harness.procedure.diff import touched_nodes
from harness.scenarios import load_scenario_set, sample_scenarios
from tests.conftest import ROOT


def _generate(procedure, scenario_set, config, out: Path, pool: ConversationPool | None):
    model = get_model("offline")
    summary = asyncio.run(generate_dataset(model, procedure, scenario_set, config, out, show_progress=False,
                                           pool=pool))
    used = model.ledger.by_purpose.get("datagen")
    return summary, used.calls if used else 0


@pytest.mark.parametrize("domain, node", [("travel", "confirm_booking"), ("insurance", "explain_partial")])
def test_a_prompt_edit_regenerates_exactly_the_conversations_through_it(domain, node, tmp_path) -> None:
    old = load_procedure(ROOT / f"procedures/{domain}.yaml")
    scenario_set = load_scenario_set(ROOT / f"scenarios/{domain}.yaml")
    config = DatagenConfig(n=40, seeds=[42], concurrency=4)
    pool = ConversationPool(tmp_path / "store")
    first, _ = _generate(old, scenario_set, config, tmp_path / "before", pool)
    assert first.reused == 0 and first.generated_now == 40

    new = old.model_copy(deep=True)
    new.nodes[node].prompt += " Keep it brief."
    summary, calls = _generate(new, scenario_set, config, tmp_path / "after", pool)

    touched = touched_nodes(old, new)
    through = [s for s in sample_scenarios(scenario_set, new, 40, 42) if set(s.path) & touched]
    assert 0 < len(through) < 40
    assert (summary.generated_now, summary.reused) == (len(through), 40 - len(through))
    assert calls == sum(len(s.path) for s in through)          # one generator call per turn
    # What was reused is what a full regeneration writes, byte for byte.
    _generate(new, scenario_set, config, tmp_path / "full", None)
    for split in ("train.jsonl", "eval.jsonl"):
        assert (tmp_path / "after" / split).read_bytes() == (tmp_path / "full" / split).read_bytes()


def test_an_unchanged_procedure_generates_nothing_and_a_header_edit_everything(tmp_path) -> None:
    old = load_procedure(ROOT / "procedures/travel.yaml")
    scenario_set = load_scenario_set(ROOT / "scenarios/travel.yaml")
    config = DatagenConfig(n=12, seeds=[1])
    pool = ConversationPool(tmp_path / "store")
    _generate(old, scenario_set, config, tmp_path / "a", pool)
    again, calls = _generate(old, scenario_set, config, tmp_path / "b", pool)
    assert (again.reused, again.generated_now, calls) == (12, 0, 0)
    renamed = old.model_copy(update={"title": "Trips"})
    summary, _ = _generate(renamed, scenario_set, config, tmp_path / "c", pool)
    assert (summary.reused, summary.generated_now) == (0, 12)
