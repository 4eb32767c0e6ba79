from __future__ import annotations

from harness.procedure import PathSpace, load_procedure
from harness.procedure.diff import diff_procedures


def _load(tmp_path, text, name="p.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return load_procedure(path)


def test_identical_versions_have_no_diff(mini_path) -> None:
    proc = load_procedure(mini_path)
    d = diff_procedures(proc, proc)
    assert d.empty and d.affected_paths == 0 and d.summary() == "no changes"


def test_prompt_change_affects_only_paths_through_that_node(tmp_path, mini_text) -> None:
    old = _load(tmp_path, mini_text, "old.yaml")
    new = _load(tmp_path, mini_text.replace("Confirm the booking.", "Confirm the booking and thank them."))
    d = diff_procedures(old, new)
    assert [c.node for c in d.nodes_changed] == ["booked"] and d.nodes_changed[0].fields == ["prompt"]
    through_booked = sum(1 for p in PathSpace(new).enumerate() if "booked" in p)
    assert d.affected_paths == through_booked == 2


def test_added_node_and_edges_are_reported(tmp_path, mini_text) -> None:
    old = _load(tmp_path, mini_text, "old.yaml")
    text = mini_text.replace("      - to: goodbye\n        when: the customer gives up\n",
                             "      - to: goodbye\n        when: the customer gives up\n"
                             "      - to: handoff\n        when: the customer asks for a human\n")
    text += "  handoff:\n    role: agent\n    terminal: escalated\n    prompt: Transfer to a human.\n"
    new = _load(tmp_path, text)
    d = diff_procedures(old, new)
    assert d.nodes_added == ["handoff"]
    assert d.edges_added == [("decide", "handoff")]
    assert d.paths_after > d.paths_before
    assert d.affected_paths == d.paths_after - d.paths_before


def test_system_prompt_change_affects_every_path(tmp_path, mini_text) -> None:
    old = _load(tmp_path, mini_text, "old.yaml")
    new = _load(tmp_path, mini_text.replace("You are a helpful booking assistant.", "You book trips."))
    d = diff_procedures(old, new)
    assert d.header_changed == ["system_prompt"]
    assert d.affected_paths == d.paths_after
