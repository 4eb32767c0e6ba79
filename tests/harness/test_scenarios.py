from __future__ import annotations

import pytest

from harness.errors import SpecErrors
from harness.procedure import load_procedure
from harness.scenarios import check_against, load_scenario_set, sample_scenarios

SET = """\
procedure: mini_booking
variables:
  destination: [Japan, Peru, Iceland]
  days: {range: [3, 14]}
  budget: {range: [500, 5000], step: 100}
persona:
  style: [specific, vague]
  challenge: [none, changes their mind]
"""


@pytest.fixture
def scenario_set(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SET)
    return load_scenario_set(path)


def test_sampling_is_seeded_paired_and_bound_to_valid_paths(scenario_set, mini_path) -> None:
    proc = load_procedure(mini_path)
    a = sample_scenarios(scenario_set, proc, 12, seed=1)
    assert a == sample_scenarios(scenario_set, proc, 12, seed=1)
    assert a != sample_scenarios(scenario_set, proc, 12, seed=2)
    # Scenario i does not depend on how many scenarios were drawn.
    assert sample_scenarios(scenario_set, proc, 5, seed=1) == a[:5]
    for s in a:
        assert s.variables["destination"] in {"Japan", "Peru", "Iceland"}
        assert 3 <= s.variables["days"] <= 14
        assert s.variables["budget"] % 100 == 0
        assert s.path[0] == "greet" and s.path[-1] in {"booked", "goodbye"}
        assert s.challenge == (s.persona["challenge"] != "none")
    assert len({s.key() for s in a}) == len(a)


def test_a_scenario_set_serialises_without_warnings(scenario_set) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")      # pydantic warns when a union member cannot be told apart
        dumped = scenario_set.model_dump(mode="json")
    assert dumped["variables"]["budget"] == {"range": [500, 5000], "step": 100}
    assert type(scenario_set).model_validate(dumped).model_dump(mode="json") == dumped


def test_undefined_template_variable_is_reported_with_node(tmp_path, mini_path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SET.replace("  destination: [Japan, Peru, Iceland]\n", ""))
    with pytest.raises(SpecErrors) as info:
        check_against(load_scenario_set(path), load_procedure(mini_path))
    messages = [str(e) for e in info.value.errors]
    assert any("node 'request'" in m and "'destination'" in m and "valid.yaml:" in m for m in messages)


def test_bad_range_is_a_located_error(tmp_path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SET.replace("[3, 14]", "[14, 3]"))
    with pytest.raises(SpecErrors) as info:
        load_scenario_set(path)
    assert info.value.errors[0].line == 4


def test_scenario_for_other_procedure_is_rejected(tmp_path, mini_path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SET.replace("procedure: mini_booking", "procedure: other"))
    with pytest.raises(SpecErrors, match="not 'mini_booking'"):
        check_against(load_scenario_set(path), load_procedure(mini_path))


def test_a_scenario_the_edit_leaves_alone_keeps_its_index_variables_and_path() -> None:
    from harness.procedure.diff import touched_nodes
    from tests.conftest import ROOT
    from tests.harness.procedure.test_paths import _with_new_branch

    old = load_procedure(ROOT / "procedures/travel.yaml")
    new = _with_new_branch(old, "summarize_booking")
    scenario_set = load_scenario_set(ROOT / "scenarios/travel.yaml")
    before, after = (sample_scenarios(scenario_set, p, 80, seed=3) for p in (old, new))
    touched = touched_nodes(old, new)
    clear = [b for b in before[20:] if not set(b.path) & touched]
    assert clear and all(after[b.index] == b for b in clear)
    assert all(a.variables == b.variables and a.persona == b.persona for a, b in zip(after, before, strict=True))


def test_an_edit_is_exercised_by_at_least_k_scenarios_drawn_deterministically() -> None:
    from harness.procedure.diff import diff_procedures
    from harness.scenarios import exercising_scenarios
    from tests.conftest import ROOT
    from tests.harness.procedure.test_paths import _with_new_branch

    old = load_procedure(ROOT / "procedures/travel.yaml")
    new = _with_new_branch(old, "summarize_booking")
    new.nodes["handoff"].prompt += " Apologise for the wait."
    scenario_set = load_scenario_set(ROOT / "scenarios/travel.yaml")
    base = sample_scenarios(scenario_set, new, 6, seed=3)
    targets = diff_procedures(old, new).edited()
    assert set(targets) >= {"extra_step", "handoff", ("summarize_booking", "extra_step")}
    extra = exercising_scenarios(scenario_set, new, base, targets, 2, seed=3)
    assert [s.index for s in extra] == list(range(6, 6 + len(extra)))
    everything = base + extra
    for target in targets:
        steps = [set(s.path) if isinstance(target, str) else set(zip(s.path, s.path[1:], strict=False))
                 for s in everything]
        assert sum(target in st for st in steps) >= 2, target
    assert exercising_scenarios(scenario_set, new, base, targets, 2, seed=3) == extra
    assert exercising_scenarios(scenario_set, new, base, [], 2, seed=3) == []


# ---- templates render with every value before anything runs ----------------------------

TEMPLATE_CASES = {
    "type mismatch": ("Offer {{ days + ' days' }}.", "TypeError"),
    "unknown filter": ("Offer {{ destination|shout }}.", "No filter named 'shout'"),
    "include": ("{% include 'secrets.txt' %}", "include %} is not allowed"),
    "macro recursion": ("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "macro %} is not allowed"),
    "sandbox": ("{{ destination.__class__ }}", "sandbox refused"),
    "hang": ("{% for i in range(9000) %}{% for j in range(9000) %}{% endfor %}{% endfor %}", "too much work"),
    "memory": ("{{ 'a' * 10**9 }}", "repetition longer"),
    "one bad value": ("{{ 100 // (budget - 500) }}", "ZeroDivisionError"),
}


@pytest.mark.parametrize("case", TEMPLATE_CASES, ids=list(TEMPLATE_CASES))
def test_validate_renders_every_template_with_scenario_values(case, tmp_path, mini_text, capsys) -> None:
    from subterra.cli import main

    template, expect = TEMPLATE_CASES[case]
    proc = tmp_path / "p.yaml"
    proc.write_text(mini_text.replace("prompt: Offer a package to {{ destination }}.", f"prompt: \"{template}\""))
    scen = tmp_path / "s.yaml"
    scen.write_text(SET)
    code = main(["validate", str(proc), str(scen)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    line = mini_text.splitlines().index("  offer:") + 3
    assert lines[0].startswith(f"error: {proc}:{line}: node 'offer': prompt: "), lines[0]
    assert expect in lines[0]
    # run and compile stop at the same line, before any model is loaded
    assert main(["run", str(proc), "--scenarios", str(scen), "--condition", "in_context", "--n", "2",
                 "--out", str(tmp_path / "t.jsonl")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == lines


def test_variable_named_self_is_refused(tmp_path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SET.replace("  destination:", "  self:"))
    with pytest.raises(SpecErrors, match=r"s.yaml:2: variables: 'self' is reserved"):
        load_scenario_set(path)


@pytest.mark.parametrize(("spec", "expect"), [
    ("{range: [3, 14], step: 0}", "(found 0)"),           # after "step: ", pydantic's words (not ours)
    ("{range: [3, 14], step: -1}", "(found -1)"),
    ("{range: [14, 3]}", "range start 14 is above its end 3"),
    ("{range: [3, 4, 5]}", "range is [start, end] (two integers), found 3"),
    ("{range: [3, 14], stpe: 2}", "unknown key 'stpe'"),
    ("7", "a variable is a list of choices or {range: [start, end], step: n} (found 7)"),
])
def test_malformed_range_says_what_is_wrong(spec, expect, tmp_path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SET.replace("{range: [3, 14]}", spec))
    with pytest.raises(SpecErrors) as info:
        load_scenario_set(path)
    assert str(info.value).startswith(f"{path}:4: ")
    assert "step" not in spec or "step: " in str(info.value)
    assert expect in str(info.value) and "\n" not in str(info.value)


def test_validate_cross_checks_a_set_naming_another_procedure(tmp_path, mini_path, capsys) -> None:
    from subterra.cli import main

    scen = tmp_path / "s.yaml"
    scen.write_text(SET.replace("procedure: mini_booking", "procedure: other_flow"))
    assert main(["validate", str(mini_path), str(scen)]) == 2
    assert f"{scen}:1: scenario set is for procedure 'other_flow', not 'mini_booking'" in capsys.readouterr().err
