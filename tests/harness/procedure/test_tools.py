"""Tool steps in the procedure format: declaration, validation with file:line errors,
paths, turns, rendering and diff."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import SpecErrors
from harness.procedure import PathSpace, Role, load_procedure, turn_groups
from harness.procedure.diff import diff_procedures
from harness.procedure.render import to_dot, to_mermaid
from harness.procedure.schema import procedure_schema

MINI = Path(__file__).resolve().parents[1] / "backend" / "tool_mini.yaml"
ROOT = Path(__file__).resolve().parents[3]


def _load_edited(tmp_path: Path, old: str, new: str):
    text = MINI.read_text()
    assert old in text, old
    path = tmp_path / "edited.yaml"
    path.write_text(text.replace(old, new))
    return path


def test_tool_procedure_loads_and_declares_its_tools() -> None:
    proc = load_procedure(MINI)
    assert proc.nodes["book"].role is Role.TOOL
    (spec,) = proc.tool_specs()
    assert spec.name == "book_ride" and spec.parameters["required"] == ["address", "seats"]
    assert proc.result_edge("book", "booked") == "confirmed"
    assert proc.result_edge("book", "unavailable") == "sorry"
    assert proc.result_edge("book", "error") is None


@pytest.mark.parametrize(("old", "new", "expect"), [
    ("    tool: book_ride\n", "    tool: order_taxi\n", "unknown tool 'order_taxi' (tools: book_ride)"),
    ('arguments: {address: "{{ address }}", seats: "{{ seats }}"}', 'arguments: {address: "{{ address }}", seats: 9}',
     "argument 'seats' is outside tool 'book_ride''s schema: 9 is greater than the maximum of 4"),
    ('arguments: {address: "{{ address }}", seats: "{{ seats }}"}', 'arguments: {address: "{{ address }}", car: x, seats: 2}',
     "argument 'car' is not a parameter of tool 'book_ride'"),
    ('arguments: {address: "{{ address }}", seats: "{{ seats }}"}', 'arguments: {address: "{{ address }}"}',
     "tool 'book_ride' requires argument(s) seats"),
    ("{to: sorry, result: unavailable}", "{to: sorry, result: cancelled}",
     "branches on result 'cancelled', which tool 'book_ride' cannot return (results: booked, unavailable)"),
    ("start: ask\n", "start: book\n", "a tool step cannot start the conversation"),
    ("{to: sorry, result: unavailable}", "{to: confirmed, result: unavailable}",
     "results 'booked' and 'unavailable' of tool 'book_ride' both lead there"),
])
def test_tool_errors_name_file_and_line(tmp_path: Path, old: str, new: str, expect: str) -> None:
    path = _load_edited(tmp_path, old, new)
    with pytest.raises(SpecErrors) as info:
        load_procedure(path)
    messages = [str(e) for e in info.value.errors]
    hit = [m for m in messages if expect in m]
    assert hit, messages
    assert hit[0].startswith(f"{path}:")


def test_every_result_needs_an_edge(tmp_path: Path) -> None:
    path = _load_edited(tmp_path, "      - {to: sorry, result: unavailable}\n",
                        "      - {to: sorry, result: booked}\n")
    with pytest.raises(SpecErrors) as info:
        load_procedure(path)
    text = str(info.value)
    assert "no edge for result 'unavailable'" in text and "takes more than one edge" in text


def test_tool_step_with_no_way_to_a_terminal(tmp_path: Path) -> None:
    path = _load_edited(tmp_path, """      - {to: confirmed, result: booked}
      - {to: sorry, result: unavailable}
""", """      - {to: hold, result: booked}
      - {to: hold_more, result: unavailable}
  hold:
    role: agent
    prompt: Ask the customer to wait.
    next: again
  hold_more:
    role: agent
    prompt: Ask the customer to wait longer.
    next: again
  again:
    role: user
    prompt: Ask again.
    next: book
""")
    with pytest.raises(SpecErrors) as info:
        load_procedure(path)
    assert "cannot reach any terminal, so the conversation could never end: ask, book, hold, hold_more, again" in str(info.value)


def test_tool_step_before_a_customer_step_is_refused(tmp_path: Path) -> None:
    path = _load_edited(tmp_path, "      - {to: sorry, result: unavailable}\n", "      - {to: ask, result: unavailable}\n")
    with pytest.raises(SpecErrors, match="tool step is followed by a customer step"):
        load_procedure(path)


def test_tool_step_counts_as_two_turns_and_is_a_turn_of_its_own() -> None:
    proc = load_procedure(MINI)
    stats = PathSpace(proc).stats()
    assert stats.count == 2
    assert (stats.min_turns, stats.max_turns) == (4, 4)      # ask, call, result, answer
    assert turn_groups(proc, ["ask", "book", "confirmed"]) == [("ask",), ("book",), ("confirmed",)]


def test_render_and_schema_show_tools() -> None:
    proc = load_procedure(MINI)
    assert "[book_ride]" in to_mermaid(proc) and "result: unavailable" in to_mermaid(proc)
    assert "#8e44ad" in to_dot(proc)
    schema = procedure_schema()
    assert "tools" in schema["properties"] and "tool" in schema["$defs"]["Role"]["enum"]


def test_diff_sees_tool_changes(tmp_path: Path) -> None:
    old = load_procedure(MINI)
    new = load_procedure(_load_edited(tmp_path, "minLength: 2", "minLength: 3"))
    diff = diff_procedures(old, new)
    assert [(c.node, c.fields) for c in diff.nodes_changed] == [("book", ["tool"])]
    assert diff.affected_paths == 2


def test_shipped_card_dispute_validates() -> None:
    proc = load_procedure(ROOT / "procedures" / "card_dispute.yaml")
    assert [n for n, node in proc.nodes.items() if node.role is Role.TOOL] == ["verify", "find_charge", "file"]
