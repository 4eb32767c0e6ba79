"""The shipped domains (procedures/*.yaml with scenarios/*.yaml) load, match each other and
have the shape the paper describes (§2, Appendix D).

The figures below are the ones the files reach under the project's path semantics (each
loop edge at most once); where they differ from the paper the docstring of `EXPECTED` says why.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cache

import pytest

from harness.procedure import PathSpace, Role
from harness.procedure.validate import template_variables
from harness.scenarios import ScenarioSet, check_against, load_scenario_set, sample_scenarios
from harness.templates import render
from tests.conftest import ROOT
from tests.conftest import shipped_procedure as procedure


@dataclass(frozen=True)
class Expected:
    nodes: int
    hubs: int
    terminals: dict[str, int]          # terminal kind -> how many nodes end that way
    paths: int
    min_turns: int
    max_turns: int
    # Variables that describe one track each; a path may use at most one of these groups,
    # because scenario variables are drawn independently of the path.
    tracks: tuple[frozenset[str], ...] = ()


# Travel and insurance match the paper exactly. Zoom matches nodes, hubs and terminals;
# its paths are fewer and shorter (52 of 4-10 turns, paper: 60 of 4-17) because each of the
# four tracks starts with the customer's own description of the problem, so a path can never
# pair an audio complaint with the screen-sharing fix.
EXPECTED = {
    "travel": Expected(nodes=14, hubs=3, terminals={"success": 1, "abandoned": 1, "escalated": 1},
                       paths=86, min_turns=4, max_turns=17),
    "zoom": Expected(nodes=14, hubs=3, terminals={"success": 1, "abandoned": 1, "escalated": 1},
                     paths=52, min_turns=4, max_turns=10,
                     tracks=(frozenset({"audio_symptom"}), frozenset({"video_symptom"}),
                             frozenset({"connection_symptom", "error_code"}), frozenset({"share_symptom"}))),
    "insurance": Expected(nodes=55, hubs=6, terminals={"success": 2, "abandoned": 1, "escalated": 2},
                          paths=2381, min_turns=9, max_turns=39,
                          tracks=(frozenset({"auto_incident", "vehicle"}), frozenset({"property_incident"}),
                                  frozenset({"health_incident", "provider"}), frozenset({"liability_incident"}))),
    # A procedure that acts: three tool steps (verify, look up, file) whose results branch.
    "card_dispute": Expected(nodes=14, hubs=4, terminals={"abandoned": 2, "escalated": 1, "success": 2},
                             paths=5, min_turns=5, max_turns=13),
}
DOMAINS = sorted(EXPECTED)


@cache
def scenario_set(domain: str) -> ScenarioSet:
    return load_scenario_set(ROOT / "scenarios" / f"{domain}.yaml")


@pytest.mark.parametrize("domain", DOMAINS)
def test_procedure_and_scenarios_load_and_match(domain: str) -> None:
    proc, scenarios = procedure(domain), scenario_set(domain)
    check_against(scenarios, proc)  # raises SpecErrors on an unknown variable or procedure name
    assert scenarios.procedure == proc.name
    assert set(scenarios.persona) == {"style", "satisfaction", "challenge"}


@pytest.mark.parametrize("domain", DOMAINS)
def test_shape(domain: str) -> None:
    proc, want = procedure(domain), EXPECTED[domain]
    assert len(proc.nodes) == want.nodes
    assert len(proc.hubs()) == want.hubs
    assert dict(Counter(kind.value for kind in proc.terminals().values())) == want.terminals
    # The compiled model sees only this prompt at run time, so it must stay minimal.
    assert "\n" not in proc.system_prompt.strip() and len(proc.system_prompt) < 80


@pytest.mark.parametrize("domain", DOMAINS)
def test_path_count_and_turn_range(domain: str) -> None:
    want = EXPECTED[domain]
    stats = PathSpace(procedure(domain), max_loops=1).stats()
    assert (stats.count, stats.min_turns, stats.max_turns) == (want.paths, want.min_turns, want.max_turns)


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_node_has_two_to_four_examples(domain: str) -> None:
    counts = {nid: len(node.examples) for nid, node in procedure(domain).nodes.items()
              if node.role is not Role.TOOL}      # a tool step says nothing: it calls
    assert {nid: n for nid, n in counts.items() if not 2 <= n <= 4} == {}


@pytest.mark.parametrize("domain", DOMAINS)
def test_prompts_and_examples_render_with_sampled_scenarios(domain: str) -> None:
    proc = procedure(domain)
    scenarios = sample_scenarios(scenario_set(domain), proc, n=50, seed=0)
    assert len(scenarios) == 50
    for scenario in scenarios:
        for nid, node in proc.nodes.items():
            for template in (node.prompt, *node.examples) if node.role is not Role.TOOL else ():
                text = render(template, scenario.context)
                assert text, f"{domain}/{nid}: empty rendering of {template!r}"
                assert "{{" not in text and "{%" not in text, f"{domain}/{nid}: {text!r}"


@pytest.mark.parametrize("domain", [d for d in DOMAINS if EXPECTED[d].tracks])
def test_each_path_uses_one_track_only(domain: str) -> None:
    proc, tracks = procedure(domain), EXPECTED[domain].tracks
    used = template_variables(proc)
    track_vars = frozenset().union(*tracks)
    assert track_vars <= scenario_set(domain).names()
    space = PathSpace(proc, max_loops=1)
    for path in space.enumerate():
        on_path = set().union(*(used[nid] for nid in path)) & track_vars
        touched = [group for group in tracks if group & on_path]
        assert len(touched) <= 1, f"{domain}: path {' > '.join(path)} mixes tracks {touched}"
