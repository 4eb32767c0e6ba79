from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from compile.dataset import (
    IGNORE_INDEX,
    chat_messages,
    collate,
    epoch_batches,
    render_with_spans,
    tokenize_conversation,
    tokenize_conversations,
)
from compile.packed_attention import PACKED_ATTENTION
from compile.tiny_model import TinyModelConfig, build_tiny_model, train_tokenizer

# Qwen3's behaviour in a few lines: the assistant message after the last user message gets an
# empty think block, earlier ones do not, so rendering prefix by prefix is not prefix-stable.
QWEN3_LIKE = (
    "{%- set ns = namespace(last_user=-1) %}"
    "{%- for m in messages %}{%- if m.role == 'user' %}{%- set ns.last_user = loop.index0 %}{%- endif %}{%- endfor %}"
    "{%- for m in messages %}"
    "{%- if m.role == 'assistant' and loop.index0 > ns.last_user %}"
    "{{- '<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n' + m.content.lstrip('\\n') + '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{%- endif %}"
    "{%- endfor %}"
)


@pytest.fixture(scope="module")
def tokenizer(toy_train, system_prompt):
    return train_tokenizer([system_prompt] + [t.text for c in toy_train for t in c.turns], 384)


def _labelled_runs(tokenizer, tokenized) -> list[str]:
    runs, current = [], []
    for token, label in zip(tokenized.input_ids, tokenized.labels, strict=True):
        if label != IGNORE_INDEX:
            assert label == token
            current.append(token)
        elif current:
            runs.append(tokenizer.decode(current))
            current = []
    if current:
        runs.append(tokenizer.decode(current))
    return runs


def _agent_texts(conversation) -> list[str]:
    return [t.text + "<|im_end|>" for t in conversation.turns if t.speaker == "agent"]


def test_messages_hold_only_the_system_prompt_and_the_turns(toy_train, system_prompt) -> None:
    messages = chat_messages(toy_train[0], system_prompt)
    assert messages[0] == {"role": "system", "content": system_prompt}
    assert [m["role"] for m in messages[1:4]] == ["assistant", "user", "assistant"]
    assert len(messages) == len(toy_train[0].turns) + 1


def test_labels_cover_exactly_the_agent_turns_and_their_end_token(tokenizer, toy_train, system_prompt) -> None:
    for conversation in toy_train[:10]:
        tokenized = tokenize_conversation(tokenizer, conversation, system_prompt, 4096)
        assert _labelled_runs(tokenizer, tokenized) == _agent_texts(conversation)
        assert not tokenized.truncated


def test_spans_survive_a_template_that_is_not_prefix_stable(tokenizer, toy_train, system_prompt) -> None:
    conversation = toy_train[0]
    tok = train_tokenizer([t.text for t in conversation.turns], 300)
    tok.chat_template = QWEN3_LIKE
    text, spans = render_with_spans(tok, chat_messages(conversation, system_prompt))
    assert text.count("<think>") == (1 if conversation.turns[-1].speaker == "agent" else 0)
    assert [text[s:e] for s, e in spans] == _agent_texts(conversation)
    assert _labelled_runs(tok, tokenize_conversation(tok, conversation, system_prompt, 4096)) == _agent_texts(conversation)


def test_a_template_that_rewrites_content_is_refused(tokenizer, toy_train, system_prompt) -> None:
    tok = train_tokenizer(["hello"], 300)
    tok.chat_template = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content | replace('!', '.') }}<|im_end|>\n{% endfor %}"
    with pytest.raises(ValueError, match="changes assistant text"):
        render_with_spans(tok, chat_messages(toy_train[0], system_prompt))
    tok.chat_template = tok.chat_template.replace("replace('!', '.')", "upper")
    with pytest.raises(ValueError, match="verbatim"):
        render_with_spans(tok, chat_messages(toy_train[0], system_prompt))
    tok.chat_template = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
    with pytest.raises(ValueError, match="end-of-turn token"):
        render_with_spans(tok, chat_messages(toy_train[0], system_prompt))


def test_long_conversations_are_truncated_and_empty_ones_dropped(tokenizer, toy_train, system_prompt) -> None:
    full = tokenize_conversation(tokenizer, toy_train[0], system_prompt, 4096)
    cut = tokenize_conversation(tokenizer, toy_train[0], system_prompt, len(full.input_ids) - 5)
    assert cut.truncated and cut.input_ids == full.input_ids[:-5] and cut.labels == full.labels[:-5]
    # 12 tokens hold the system prompt only: no agent token left, so the conversation is dropped.
    assert tokenize_conversations(tokenizer, toy_train[:3], system_prompt, 12) == []


def test_a_closing_customer_turn_is_not_fed(tokenizer, toy_train, system_prompt) -> None:
    conversation = toy_train[0]
    ends_with_user = conversation.model_copy(update={"turns": conversation.turns[:-1]})
    tokenized = tokenize_conversation(tokenizer, ends_with_user, system_prompt, 4096)
    assert tokenizer.decode(tokenized.input_ids).endswith(conversation.turns[-3].text + "<|im_end|>")
    assert tokenized.labels[-1] == tokenizer.eos_token_id and not tokenized.truncated


@pytest.mark.slow
def test_smollm2_tokenizer_labels_decode_to_the_agent_turns(toy_train, system_prompt) -> None:
    from harness.llm.weights import load_tokenizer

    smol = load_tokenizer("smollm2-135m")
    for conversation in toy_train[:5]:
        tokenized = tokenize_conversation(smol, conversation, system_prompt, 4096)
        assert _labelled_runs(smol, tokenized) == _agent_texts(conversation)
        assert smol.decode(tokenized.input_ids).startswith(f"<|im_start|>system\n{system_prompt}<|im_end|>")


def _token_losses(model, batch) -> torch.Tensor:
    logits = model(**batch.model_inputs(), use_cache=False).logits
    return F.cross_entropy(logits.float(), batch.targets, reduction="none")


@pytest.mark.parametrize(("packing", "attention"), [(True, "sdpa"), (True, PACKED_ATTENTION), (False, "sdpa"),
                                                    (False, PACKED_ATTENTION)])
def test_a_batch_gives_the_per_token_loss_of_its_conversations_run_one_by_one(
        tokenizer, toy_train, system_prompt, packing, attention) -> None:
    model = build_tiny_model(TinyModelConfig(vocab_size=384, hidden_size=64, intermediate_size=128, num_layers=2,
                                             num_heads=4, num_kv_heads=2), tokenizer, seed=0).eval()
    model.set_attn_implementation(attention)      # the packed kernel falls back to sdpa on padded rows
    examples = tokenize_conversations(tokenizer, toy_train[:4], system_prompt, 4096)
    assert len({len(e.input_ids) for e in examples}) > 1               # different lengths: padding / packing matter
    batch = collate(examples, packing=packing, pad_token_id=tokenizer.pad_token_id)
    if packing:
        assert batch.input_ids.shape == (1, sum(len(e.input_ids) for e in examples))
        assert batch.attention_mask is None and int((batch.position_ids == 0).sum()) == 4
        assert batch.cu_seq_lens.tolist() == [0, *torch.tensor([len(e.input_ids) for e in examples]).cumsum(0)]
    else:
        assert batch.input_ids.shape[0] == 4 and batch.attention_mask is not None
    assert batch.n_targets == sum(e.n_labels for e in examples)
    with torch.no_grad():
        together = _token_losses(model, batch)
        apart = torch.cat([_token_losses(model, collate([e], packing=packing, pad_token_id=0)) for e in examples])
        # Without position ids the packed row is one long causal sequence: the loss differs,
        # which shows the equality above comes from the block-diagonal mask.
        model.set_attn_implementation("sdpa")
        leaky = model(input_ids=batch.input_ids, use_cache=False, logits_to_keep=batch.keep).logits
    assert together.shape == apart.shape
    torch.testing.assert_close(together, apart, atol=1e-5, rtol=1e-5)
    if packing:
        assert (F.cross_entropy(leaky, batch.targets, reduction="none") - apart).abs().max() > 1e-3


def test_epoch_order_is_a_function_of_seed_and_epoch() -> None:
    a = epoch_batches(50, 4, seed=1, epoch=0)
    assert a == epoch_batches(50, 4, seed=1, epoch=0)
    assert a != epoch_batches(50, 4, seed=1, epoch=1) and a != epoch_batches(50, 4, seed=2, epoch=0)
    assert sorted(i for b in a for i in b) == list(range(50)) and len(a[-1]) == 2
    assert epoch_batches(5, 2, seed=0, epoch=0, shuffle=False) == [[0, 1], [2, 3], [4]]


def test_ranks_get_disjoint_equal_shares() -> None:
    shares = [epoch_batches(50, 4, seed=1, epoch=3, rank=r, world_size=3) for r in range(3)]
    assert {len(s) for s in shares} == {4}                               # 13 micro-batches: one left out
    seen = [i for share in shares for b in share for i in b]
    assert len(seen) == len(set(seen))


def test_a_customer_opened_conversation_trains_on_the_agent_turns_only(tokenizer, toy_train, system_prompt) -> None:
    # The customer writes first: the training format starts with a user message after the
    # system prompt, and only the agent's messages (one per chain of steps) carry labels.
    conversation = toy_train[0].model_copy(update={"turns": toy_train[0].turns[1:]})
    assert conversation.turns[0].speaker == "user"
    messages = chat_messages(conversation, system_prompt)
    assert [m["role"] for m in messages[:3]] == ["system", "user", "assistant"]
    tokenized = tokenize_conversation(tokenizer, conversation, system_prompt, 4096)
    assert _labelled_runs(tokenizer, tokenized) == _agent_texts(conversation)
