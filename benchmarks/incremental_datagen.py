"""Generator calls of a recompile after a one-node prompt edit, against a full regeneration.

    .venv/bin/python benchmarks/incremental_datagen.py [--n 120]

For travel and insurance: generate the training data (offline generator, the gate's
default n and seed), edit one node's prompt, generate again with the store's conversation
pool (`compile/reuse.py`), and count the generator calls of the second run in the LLM
layer's ledger. They must equal the turns of the conversations whose path touches the
changed node or the node right before it; the script checks that and prints the fraction
of a full regeneration.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from compile.datagen import DatagenConfig, generate_dataset
from compile.reuse import ConversationPool
from harness.llm import get_model
from harness.procedure import load_procedure
from harness.procedure.diff import touched_nodes
from harness.scenarios import load_scenario_set, sample_scenarios

ROOT = Path(__file__).resolve().parents[1]
EDITS = {"travel": "confirm_booking", "insurance": "explain_partial"}


def generate(procedure, scenario_set, config, out: Path, pool: ConversationPool):
    model = get_model("offline")
    summary = asyncio.run(generate_dataset(model, procedure, scenario_set, config, out, show_progress=False,
                                           pool=pool))
    used = model.ledger.by_purpose.get("datagen")
    return summary, used.calls if used else 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=120)
    n = parser.parse_args().n
    config = DatagenConfig(n=n, seeds=[42])
    for domain, node in EDITS.items():
        old = load_procedure(ROOT / f"procedures/{domain}.yaml")
        scenario_set = load_scenario_set(ROOT / f"scenarios/{domain}.yaml")
        new = old.model_copy(deep=True)
        new.nodes[node].prompt += " Keep it brief."
        with tempfile.TemporaryDirectory() as tmp:
            pool = ConversationPool(Path(tmp) / "store")
            _, full_calls = generate(old, scenario_set, config, Path(tmp) / "before", pool)
            summary, calls = generate(new, scenario_set, config, Path(tmp) / "after", pool)
        touched = touched_nodes(old, new)
        through = [s for s in sample_scenarios(scenario_set, new, n, 42) if set(s.path) & touched]
        expected = sum(len(s.path) for s in through)
        assert calls == expected and summary.generated_now == len(through), (calls, expected)
        print(f"{domain}: edit of {node} (touched: {', '.join(sorted(touched))}): "
              f"{summary.generated_now}/{n} conversations generated, {summary.reused} reused; "
              f"generator calls {calls} = turns of the conversations through the edit "
              f"({calls / full_calls:.0%} of a full regeneration's {full_calls})")


if __name__ == "__main__":
    main()
