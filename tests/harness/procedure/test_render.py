from __future__ import annotations

from harness.procedure import load_procedure
from harness.procedure.render import COLOURS, to_dot, to_mermaid
from harness.procedure.spec import TerminalKind


def test_mermaid_has_every_node_edge_and_colour(mini_path) -> None:
    proc = load_procedure(mini_path)
    text = to_mermaid(proc)
    assert text.startswith("flowchart TD")
    for nid in proc.nodes:
        assert f"style {nid} fill:" in text
    assert 'decide{"decide"}' in text                     # hubs are diamonds
    assert '-->|"the customer accepts the offer"| booked' in text
    assert f"style booked fill:{COLOURS[TerminalKind.SUCCESS]}" in text
    assert f"style goodbye fill:{COLOURS[TerminalKind.ABANDONED]}" in text
    assert f"style greet fill:{COLOURS['agent']}" in text
    assert f"style request fill:{COLOURS['user']}" in text


def test_dot_has_shapes_colours_and_scores(mini_path) -> None:
    proc = load_procedure(mini_path)
    text = to_dot(proc, node_scores={"offer": 0.5})
    assert text.startswith('digraph "mini_booking" {')
    assert text.count("->") == len(proc.edges())
    assert "decide [label=\"decide\", shape=diamond" in text
    assert "offer\\n50%" in text
    assert text.rstrip().endswith("}")
