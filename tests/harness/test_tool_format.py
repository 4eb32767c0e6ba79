"""The tool-call text convention: written and read back, the same at train and run time, and
equal to Qwen's native rendering of tool calls where a Qwen tokenizer is on disk."""

from __future__ import annotations

import os

import pytest

from harness.conditions.base import history_messages
from harness.llm.base import ToolCall
from harness.tool_format import call_text, parse_call, response_text, turn_message
from harness.transcript import Conversation, Turn

CALL = ToolCall(id="call_1", name="verify_identity", arguments={"card_last4": "0042", "full_name": "Zoë Park"})
TURNS = [Turn(speaker="user", text="It's 0042, Zoë Park."),
         Turn(speaker="agent", text="", tool_call=CALL),
         Turn(speaker="tool", text='{"result": "verified"}', tool_call=CALL),
         Turn(speaker="agent", text="You're verified.")]


def test_a_call_reads_back_as_itself() -> None:
    text = call_text(CALL)
    assert text == ('<tool_call>\n{"name": "verify_identity", "arguments": {"card_last4": "0042", '
                    '"full_name": "Zoë Park"}}\n</tool_call>')
    assert parse_call(text, "call_1") == ("", CALL, False)
    assert parse_call("Let me check.\n" + text, "call_1") == ("Let me check.", CALL, False)


@pytest.mark.parametrize("bad", ['<tool_call>\n{"name": "x", "arguments": ', "<tool_call>{not json}</tool_call>",
                                 '<tool_call>{"arguments": {}}</tool_call>'])
def test_an_unreadable_call_is_flagged_not_raised(bad: str) -> None:
    spoken, call, unreadable = parse_call(bad)
    assert call is None and unreadable


def test_plain_words_are_no_call() -> None:
    assert parse_call("Hello there") == ("Hello there", None, False)


def test_training_and_run_time_messages_are_the_same() -> None:
    from compile.dataset import chat_messages

    conversation = Conversation(id="c", procedure="p", scenario_index=0, seed=0, path=[], variables={}, persona={},
                                turns=TURNS)
    trained = chat_messages(conversation, "SYS")
    at_run_time = [{"role": m.role, "content": m.content} for m in history_messages("SYS", TURNS, opener=False)]
    assert trained == at_run_time
    assert trained[2] == {"role": "assistant", "content": call_text(CALL)}
    assert trained[3] == {"role": "user", "content": response_text('{"result": "verified"}')}


def test_labels_cover_the_call_and_never_the_result() -> None:
    from compile.dataset import IGNORE_INDEX, tokenize_conversation
    from compile.tiny_model import train_tokenizer

    conversation = Conversation(id="c", procedure="p", scenario_index=0, seed=0, path=[], variables={}, persona={},
                                turns=TURNS)
    tokenizer = train_tokenizer([turn_message(t)["content"] for t in TURNS] * 20, 300)
    tokenized = tokenize_conversation(tokenizer, conversation, "SYS", 2048)
    labelled = tokenizer.decode([t for t, label in zip(tokenized.input_ids, tokenized.labels, strict=True)
                                 if label != IGNORE_INDEX])
    assert '"card_last4": "0042"' in labelled and "You're verified." in labelled
    assert "verified\"}" not in labelled.replace("You're verified.", "") and "tool_response" not in labelled


@pytest.mark.skipif(not os.environ.get("SUBTERRA_QWEN_TOKENIZER"),
                    reason="set SUBTERRA_QWEN_TOKENIZER to a Qwen2.5/Qwen3 tokenizer folder to compare")
def test_the_convention_is_qwens_own_tool_format() -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(os.environ["SUBTERRA_QWEN_TOKENIZER"])
    native = [{"role": "system", "content": "SYS"}, {"role": "user", "content": TURNS[0].text},
              {"role": "assistant", "content": "", "tool_calls": [
                  {"type": "function", "function": {"name": CALL.name, "arguments": CALL.arguments}}]},
              {"role": "tool", "content": TURNS[2].text}, {"role": "assistant", "content": TURNS[3].text}]
    ours = [{"role": "system", "content": "SYS"}] + [turn_message(t) for t in TURNS]
    assert tokenizer.apply_chat_template(ours, tokenize=False) == tokenizer.apply_chat_template(native, tokenize=False)


# A template of our own (not any vendor's) that renders tool calls natively, two ways.
_NATIVE = (
    "{% for m in messages %}<|im_start|>{{ 'user' if m.role == 'tool' else m.role }}\n"
    "{% if m.role == 'tool' %}<tool_response>\n{{ m.content }}\n</tool_response>"
    "{% elif m.tool_calls %}{% for c in m.tool_calls %}"
    "{{ CALL_OPEN }}\n{\"name\": \"{{ c.function.name }}\", \"arguments\": {{ c.function.arguments | tojson }}}"
    "\n</tool_call>{% endfor %}{% else %}{{ m.content }}{% endif %}<|im_end|>\n{% endfor %}"
)


def test_a_base_model_with_another_tool_format_is_refused() -> None:
    import pytest as _pytest

    from compile.dataset import check_tool_format
    from compile.tiny_model import train_tokenizer

    tokenizer = train_tokenizer(["hello"] * 5, 300)
    check_tool_format(tokenizer)                       # ChatML without tool support: the convention
    tokenizer.chat_template = _NATIVE.replace("{{ CALL_OPEN }}", "<tool_call>")
    check_tool_format(tokenizer)                       # renders our text natively: its own format
    tokenizer.chat_template = _NATIVE.replace("{{ CALL_OPEN }}", "<|python_tag|>")
    with _pytest.raises(ValueError, match="renders tool calls in a format of its own"):
        check_tool_format(tokenizer)
