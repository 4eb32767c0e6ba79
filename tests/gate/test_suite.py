"""Gate suites are checked at load: every mistake is one line of the suite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.suite import load_suite
from harness.errors import SpecErrors
from tests.conftest import ROOT

BASE = (ROOT / "test_suites" / "travel.gate.yaml").read_text().replace(
    "../procedures", str(ROOT / "procedures")).replace("../scenarios", str(ROOT / "scenarios"))

CASES = {
    # Where pydantic's own words would go, only our part is asserted: the field, the value found.
    "n unbounded": ("    n: 12 ", "    n: 1000000000 ", ("procedures.0.n: ", "10000", "(found 1000000000)")),
    "compile n unbounded": ("  n: 120 ", "  n: 100000000 ", ("compile.n: ", "(found 100000000)")),
    "missing procedure": ("procedures/travel.yaml", "procedures/nope.yaml", "cannot read file"),
    "procedure is a directory": ("procedures/travel.yaml", "procedures", "is a directory"),
    "unknown recipe": ("recipe: smollm2-135m", "recipe: smollm3", "unknown recipe 'smollm3'"),
    "bad override": ("recipe: smollm2-135m", "recipe: smollm2-135m\n  overrides:\n    lr: -1",
                     ("override of recipe 'smollm2-135m': lr: ", "(found -1)")),
    "bogus model": ("user: anthropic:claude-sonnet-4-5 | offline", "user: gpt5", "models.user: unknown model provider 'gpt5'"),
    "no seeds": ("seeds: [42]", "seeds: []", "compile.seeds: "),
    "duplicate condition": ("conditions: [subterranean,", "conditions: [subterranean, subterranean,",
                            "conditions: listed more than once: subterranean"),
    "name with a path": ("name: travel", "name: ../../x", "must be a plain file name"),
    "absolute name": ("name: travel", "name: /tmp/x", "must be a plain file name"),
    "scenarios of another procedure": ("scenarios/travel.yaml", "scenarios/zoom.yaml",
                                       "scenario set is for procedure 'zoom_support'"),
    "no trials": ("name: travel", "name: travel\ntrials: 0", "trials: Input should be greater than or equal to 1"),
    "inconclusive policy": ("name: travel", "name: travel\nregression: {inconclusive: maybe}",
                            "regression.inconclusive: Input should be 'pass' or 'fail'"),
    "pass^k of an unknown condition": ("margin: -0.25}", "margin: -0.25}\n  pass_k:\n    - {condition: nobody, k: 2, min: 0.5}",
                                       "thresholds.pass_k.0.condition"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_suite_mistake_is_one_line_of_the_suite(case: str, tmp_path: Path) -> None:
    old, new, expect = CASES[case]
    assert old in BASE
    text = BASE.replace(old, new, 1)
    path = tmp_path / "s.gate.yaml"
    path.write_text(text)
    with pytest.raises(SpecErrors) as info:
        load_suite(path)
    (error,) = info.value.errors
    assert all(part in error.message for part in ((expect,) if isinstance(expect, str) else expect)), str(error)
    if case != "scenarios of another procedure":          # that one points into the scenario file
        assert error.file == str(path)
        changed = new.split("\n")[-1].strip().split(":")[0]
        assert changed in text.splitlines()[error.line - 1], (error.line, str(error))


def test_shipped_suite_loads() -> None:
    suite = load_suite(ROOT / "test_suites" / "travel.gate.yaml")
    assert suite.name == "travel" and suite.resolve(suite.procedures[0].procedure).is_file()


def test_trials_sample_at_a_temperature_unless_told_otherwise(tmp_path: Path) -> None:
    path = tmp_path / "s.gate.yaml"
    path.write_text(BASE)
    one = load_suite(path)
    assert one.trials == 1 and one.sampling_temperature == 0.0 and one.regression.inconclusive == "pass"
    path.write_text(BASE.replace("name: travel", "name: travel\ntrials: 3"))
    assert load_suite(path).sampling_temperature == 0.7
    path.write_text(BASE.replace("name: travel", "name: travel\ntrials: 3\ntemperature: 0"))
    assert load_suite(path).sampling_temperature == 0.0
