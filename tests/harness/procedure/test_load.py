from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import SpecErrors
from harness.procedure import Role, TerminalKind, load_procedure
from subterra.cli import main

BROKEN = sorted((Path(__file__).parent / "broken").glob("*.yaml"))


def test_valid_procedure_loads(mini_path: Path) -> None:
    proc = load_procedure(mini_path)
    assert proc.start == "greet"
    assert proc.hubs() == ["decide"]
    assert proc.terminals() == {"booked": TerminalKind.SUCCESS, "goodbye": TerminalKind.ABANDONED}
    assert proc.nodes["decide"].role is Role.USER
    assert proc.source is not None and proc.source.line(("nodes", "offer")) == 19


def test_there_are_at_least_15_kinds_of_broken_file() -> None:
    assert len(BROKEN) >= 15


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_file_gives_one_clear_error_line(path: Path, capsys: pytest.CaptureFixture) -> None:
    expect = re.match(r"# expect: (.*)", path.read_text()).group(1)
    code = main(["validate", str(path)])
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1, lines
    assert "Traceback" not in out.err
    assert re.match(rf"error: {re.escape(str(path))}:\d+: ", lines[0]), lines[0]
    assert expect in lines[0]


def test_error_points_at_the_offending_line(tmp_path: Path, mini_text: str) -> None:
    text = mini_text.replace("    next: offer\n", "    next: nowhere\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(SpecErrors) as info:
        load_procedure(bad)
    (error,) = info.value.errors
    assert error.line == text.splitlines().index("    next: nowhere") + 1
    assert error.node == "request"


# ---- mutation fuzzing: whatever the edit, a clean error or success, never a traceback ----

def _mutations(data: dict) -> st.SearchStrategy:
    node_ids = list(data["nodes"])
    fields = ["role", "prompt", "examples", "next", "terminal", "title", "bogus"]
    junk = st.one_of(st.none(), st.integers(), st.text(max_size=8), st.lists(st.integers(), max_size=2),
                     st.sampled_from(node_ids), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
                     st.just("{{ unclosed"), st.just([{"to": node_ids[0]}]))
    top = st.tuples(st.just("top"), st.sampled_from(["name", "title", "start", "nodes", "system_prompt", "extra"]), junk)
    node = st.tuples(st.sampled_from(node_ids), st.sampled_from(fields), junk)
    delete = st.tuples(st.just("delete"), st.sampled_from(node_ids), st.none())
    return st.lists(st.one_of(top, node, delete), min_size=1, max_size=4)


BASE = yaml.safe_load((Path(__file__).parent / "valid.yaml").read_text())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_mutations(BASE))
def test_mutated_procedures_never_raise_a_traceback(tmp_path_factory, edits) -> None:
    import copy

    data = copy.deepcopy(BASE)
    for target, key, value in edits:
        if target == "top":
            data[key] = value
        elif target == "delete":
            if isinstance(data.get("nodes"), dict):
                data["nodes"].pop(key, None)
        elif isinstance(data.get("nodes"), dict) and isinstance(data["nodes"].get(target), dict):
            data["nodes"][target][key] = value
    path = tmp_path_factory.mktemp("fuzz") / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["validate", str(path)]) in (0, 2)
