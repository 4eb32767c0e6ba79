"""Fuzzed procedures, scenario sets and suites end in exit 0 or one-line `file:line` errors.

The default run is small. A larger one, with the figures printed:

    SUBTERRA_FUZZ_N=1000 .venv/bin/python -m pytest tests/subterra/cli/test_fuzz.py -s -q -p no:cacheprovider
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.subterra.cli.fuzzing import (
    ERROR,
    MEMORY_GROWTH_KB,
    OK,
    SUITE,
    corpus,
    mutate,
    outcome,
    peak_rss_kb,
)

N = int(os.environ.get("SUBTERRA_FUZZ_N", "20"))          # mutated files per kind
EXAMPLES = int(os.environ.get("SUBTERRA_FUZZ_EXAMPLES", "15"))


def test_mutation_corpus_never_crashes_hangs_or_eats_memory(tmp_path: Path) -> None:
    before = peak_rss_kb()
    started = time.monotonic()
    figures: Counter = Counter()
    failures = []
    for i, (kind, base, text) in enumerate(corpus(N)):
        cls, detail = outcome(kind, base, text, tmp_path)
        figures[kind, cls] += 1
        if cls not in (OK, ERROR):
            failures.append((i, kind, base, cls, detail))
    growth = peak_rss_kb() - before
    print(f"\nfuzz: {N} mutated files per kind in {time.monotonic() - started:.1f} s, "
          f"peak RSS +{growth // 1024} MiB")
    for kind in ("procedure", "scenarios", "suite"):
        row = {cls: figures[kind, cls] for k, cls in figures if k == kind}
        print(f"  {kind:10} " + ", ".join(f"{cls} {count}" for cls, count in sorted(row.items())))
    assert failures == []
    assert growth < MEMORY_GROWTH_KB
    assert all(figures[kind, ERROR] for kind in ("procedure", "scenarios", "suite"))   # the mutations bite


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rng=st.randoms(use_true_random=False), kind=st.sampled_from(["procedure", "scenarios", "suite"]),
       base=st.sampled_from(["travel", "zoom", "insurance"]))
def test_hypothesis_mutations_never_crash(rng: random.Random, kind: str, base: str, tmp_path: Path) -> None:
    from tests.subterra.cli.fuzzing import PROCEDURES, SCENARIOS

    source = SUITE if kind == "suite" else (PROCEDURES if kind == "procedure" else SCENARIOS)[base].read_text()
    cls, detail = outcome(kind, "travel" if kind == "suite" else base, mutate(source, rng), tmp_path)
    assert cls in (OK, ERROR), detail
