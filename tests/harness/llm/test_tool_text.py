"""Tools as text for local models: rendering, reading calls back, the grammar of a required call."""

from __future__ import annotations

import llguidance
import pytest

from harness.llm.base import ChatRequest, Message, ToolCall, ToolSpec
from harness.llm.tool_text import call_grammar, chat_messages, parse_calls

LOOKUP = ToolSpec(name="lookup_booking", description="Find a booking.",
                  parameters={"type": "object", "properties": {"reference": {"type": "string"}},
                              "required": ["reference"]})
CANCEL = ToolSpec(name="cancel_booking", parameters={"type": "object", "properties": {}})
CALL = ToolCall(id="c1", name="lookup_booking", arguments={"reference": "AB12"})


def ask(*messages: Message, **fields: object) -> ChatRequest:
    return ChatRequest(messages=messages or (Message(role="user", content="hi"),), **fields)


def test_without_tools_the_messages_are_untouched() -> None:
    request = ask(Message(role="system", content="S"), Message(role="user", content="u"))
    assert chat_messages(request) == [{"role": "system", "content": "S"}, {"role": "user", "content": "u"}]
    assert parse_calls(request, '<tool_call>\n{"name": "x", "arguments": {}}\n</tool_call>')[1] == ()


def test_tools_calls_and_results_are_rendered_as_text() -> None:
    request = ask(Message(role="system", content="S"), Message(role="user", content="AB12"),
                  Message(role="assistant", content="", tool_calls=(CALL,)),
                  Message(role="tool", content='{"result": "found"}', tool_call_id="c1"), tools=(LOOKUP,))
    system, user, call, result = chat_messages(request)
    assert system["content"].startswith("S\n\n# Tools") and '"name": "lookup_booking"' in system["content"]
    assert call == {"role": "assistant",
                    "content": '<tool_call>\n{"name": "lookup_booking", "arguments": {"reference": "AB12"}}\n</tool_call>'}
    assert result == {"role": "user", "content": '<tool_response>\n{"result": "found"}\n</tool_response>'}


def test_calls_are_read_back_and_broken_ones_stay_words() -> None:
    request = ask(tools=(LOOKUP,))
    spoken, calls = parse_calls(request, 'One moment.\n<tool_call>\n{"name": "lookup_booking", '
                                         '"arguments": {"reference": "AB12"}}\n</tool_call>')
    assert spoken == "One moment." and [(c.name, c.arguments) for c in calls] == [("lookup_booking", {"reference": "AB12"})]
    assert calls[0].id.startswith("call_")
    broken = 'Sure <tool_call>{"name": lookup}'
    assert parse_calls(request, broken) == (broken, ())


@pytest.mark.parametrize(("choice", "count"), [("required", 2), ("cancel_booking", 1)])
def test_a_required_call_is_a_valid_grammar(choice: str, count: int) -> None:
    grammar = call_grammar(ask(tools=(LOOKUP, CANCEL), tool_choice=choice))
    assert grammar is not None and grammar.count("%json") == count
    assert llguidance.LLMatcher.validate_grammar(llguidance.LLMatcher.grammar_from_lark(grammar)) == ""
    assert call_grammar(ask(tools=(LOOKUP,), tool_choice="auto")) is None
    with pytest.raises(ValueError, match="does not offer"):
        call_grammar(ask(tools=(LOOKUP,), tool_choice="refund"))
