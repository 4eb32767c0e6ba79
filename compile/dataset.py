"""Conversations -> token ids and assistant-only labels, batched without padding.

The compiled model is the agent: a conversation becomes the model's chat template with only
the procedure's minimal system prompt, agent turns as `assistant` messages and customer turns
as `user` messages. Loss falls on the assistant tokens (each agent turn's text and the
end-of-turn token that closes it) and nowhere else.

Finding those tokens does not rely on `{% generation %}` markers, which the Qwen and SmolLM
templates lack: the conversation is rendered once with each assistant text replaced by a
sentinel, which gives the exact character span of every assistant text in the rendered
string; a second, plain rendering must equal the first with the texts put back (so a
template that rewrites content is caught, not mislabelled). Tokens are then labelled by their
character offsets.

Packing: a micro-batch's conversations are laid end to end in one row with `position_ids`
restarting at 0 for each, and their bounds as `cu_seq_lens_q/k` (the keywords the varlen
kernels read; TRL's padding-free collator passes the same). With no attention mask,
transformers builds a block-diagonal causal mask from the position ids (sdpa/eager:
`masking_utils.find_packed_sequence_indices`; flash-attention: varlen kernels; on the CPU the
trainer uses `compile.packed_attention`, which attends within each conversation's slice), so
no token attends across conversations and no compute is spent on padding. Tests check that a packed batch gives the per-token loss of the
conversations run one by one.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from harness.llm.base import ToolCall
from harness.tool_format import turn_message
from harness.transcript import Conversation, Turn

__all__ = [
    "IGNORE_INDEX",
    "MicroBatch",
    "TokenizedConversation",
    "chat_messages",
    "collate",
    "epoch_batches",
    "render_with_spans",
    "tokenize_conversation",
    "tokenize_conversations",
]

IGNORE_INDEX = -100


@dataclass(frozen=True)
class TokenizedConversation:
    id: str
    input_ids: list[int]
    labels: list[int]          # the token id where the model is trained to produce it, else -100
    truncated: bool            # cut at max_seq_len (tokens after the last label are always cut)

    @property
    def n_labels(self) -> int:
        return sum(label != IGNORE_INDEX for label in self.labels)


def chat_messages(conversation: Conversation, system_prompt: str) -> list[dict[str, str]]:
    """The conversation as the compiled model sees it: system prompt, then its turns."""
    # A tool call is the agent's (trained on); the tool's reply is a user message (never trained
    # on): harness.tool_format, the same text the subterranean condition sends at run time.
    return [{"role": "system", "content": system_prompt}] + [turn_message(turn) for turn in conversation.turns]


def _end_of_turn(tokenizer: Any, text: str, at: int) -> str:
    """The special token that closes an assistant message at `text[at:]`."""
    candidates = [tokenizer.eos_token] if tokenizer.eos_token else []
    candidates += sorted(tokenizer.all_special_tokens, key=len, reverse=True)
    for token in candidates:
        if token and text.startswith(token, at):
            return token
    raise ValueError(
        "expected a special end-of-turn token (e.g. the eos token "
        f"{tokenizer.eos_token!r}) right after an assistant message in the chat template, "
        f"found {text[at:at + 30]!r}"
    )


def render_with_spans(tokenizer: Any, messages: Sequence[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered chat and, per assistant message, the character span of its text plus the
    end-of-turn token that follows it."""
    sentinels = {}
    masked = []
    for i, message in enumerate(messages):
        if message["role"] == "assistant":
            sentinel = f"\ue000subterra-assistant-{i}\ue001"
            sentinels[sentinel] = message["content"]
            message = {**message, "content": sentinel}
        masked.append(message)
    template_text = tokenizer.apply_chat_template(masked, tokenize=False)
    rendered, spans, cursor = [], [], 0
    length = 0
    for sentinel, content in sentinels.items():
        at = template_text.find(sentinel, cursor)
        if at < 0 or template_text.count(sentinel) != 1:
            raise ValueError(f"the chat template did not render assistant message text verbatim "
                             f"(sentinel {sentinel!r} found {template_text.count(sentinel)} times)")
        rendered.append(template_text[cursor:at])
        length += at - cursor
        start = length
        rendered.append(content)
        length += len(content)
        end_of_turn = _end_of_turn(tokenizer, template_text, at + len(sentinel))
        spans.append((start, length + len(end_of_turn)))
        cursor = at + len(sentinel)
    rendered.append(template_text[cursor:])
    text = "".join(rendered)
    direct = tokenizer.apply_chat_template(list(messages), tokenize=False)
    if direct != text:
        raise ValueError("the chat template changes assistant text (rendering with the real text differs from "
                         "rendering with placeholders put back); assistant tokens cannot be located safely")
    return text, spans


def tokenize_conversation(tokenizer: Any, conversation: Conversation, system_prompt: str,
                          max_seq_len: int) -> TokenizedConversation:
    text, spans = render_with_spans(tokenizer, chat_messages(conversation, system_prompt))
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(f"assistant labels need a fast tokenizer (character offsets); got {type(tokenizer).__name__}")
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = encoded["input_ids"]
    labels = [IGNORE_INDEX] * len(ids)
    span_index = 0
    for i, (start, end) in enumerate(encoded["offset_mapping"]):
        while span_index < len(spans) and spans[span_index][1] <= start:
            span_index += 1
        if span_index < len(spans) and start < spans[span_index][1] and end > spans[span_index][0]:
            labels[i] = ids[i]        # any token overlapping an assistant span is the model's to write
    truncated = len(ids) > max_seq_len
    ids, labels = ids[:max_seq_len], labels[:max_seq_len]
    # Tokens after the last agent token (a closing customer turn) change no loss in a causal
    # model: drop them rather than spend forward and backward passes on them.
    end = max((i + 1 for i, label in enumerate(labels) if label != IGNORE_INDEX), default=len(ids))
    return TokenizedConversation(conversation.id, ids[:end], labels[:end], truncated)


def check_tool_format(tokenizer: Any) -> None:
    """Refuse a base model whose chat template renders tool calls otherwise than our text
    convention: its own format is the one to train (Qwen2.5 and Qwen3 render exactly ours);
    a template without tool support (SmolLM2, the tiny model) learns the convention."""
    template = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else ""
    if "tool_calls" not in template:
        return
    call = ToolCall(id="call_0", name="lookup", arguments={"id": "A1", "n": 2})
    turns = [Turn(speaker="user", text="A1, two"), Turn(speaker="agent", text="", tool_call=call),
             Turn(speaker="tool", text='{"result": "found"}', tool_call=call), Turn(speaker="agent", text="Found.")]
    native = [{"role": "system", "content": "S"}, {"role": "user", "content": "A1, two"},
              {"role": "assistant", "content": "", "tool_calls": [
                  {"type": "function", "function": {"name": call.name, "arguments": call.arguments}}]},
              {"role": "tool", "content": '{"result": "found"}'}, {"role": "assistant", "content": "Found."}]
    ours = [{"role": "system", "content": "S"}] + [turn_message(t) for t in turns]
    if tokenizer.apply_chat_template(native, tokenize=False) != tokenizer.apply_chat_template(ours, tokenize=False):
        raise ValueError("this base model's chat template renders tool calls in a format of its own, not the "
                         "<tool_call>/<tool_response> text subterra trains and parses (harness/tool_format.py, the "
                         "format of Qwen2.5 and Qwen3); compiling a procedure with tools needs a base model whose "
                         "template has that format or none")


def tokenize_conversations(tokenizer: Any, conversations: Sequence[Conversation], system_prompt: str,
                           max_seq_len: int) -> list[TokenizedConversation]:
    """Tokenised conversations that still carry at least one assistant token after truncation."""
    if any(turn.tool_call is not None for c in conversations for turn in c.turns):
        check_tool_format(tokenizer)
    out = [tokenize_conversation(tokenizer, c, system_prompt, max_seq_len) for c in conversations]
    return [t for t in out if t.n_labels > 0]


def epoch_batches(n_examples: int, per_device_batch: int, *, seed: int, epoch: int, shuffle: bool = True,
                  rank: int = 0, world_size: int = 1) -> list[list[int]]:
    """This rank's micro-batches (lists of example indices) for `epoch`.

    The order depends only on (seed, epoch), so a resumed run sees the same batches. Every
    rank gets the same number of micro-batches (a remainder smaller than one per rank is left
    out of that epoch); with one process nothing is ever left out.
    """
    order = list(range(n_examples))
    if shuffle:
        random.Random(f"{seed}:{epoch}").shuffle(order)
    batches = [order[i:i + per_device_batch] for i in range(0, n_examples, per_device_batch)]
    per_rank = len(batches) // world_size
    return batches[rank:per_rank * world_size:world_size]


@dataclass
class MicroBatch:
    input_ids: torch.Tensor               # (rows, length)
    position_ids: torch.Tensor            # (rows, length), restarting at 0 per conversation
    attention_mask: torch.Tensor | None   # None when packed: the mask comes from position_ids
    keep: torch.Tensor                    # (rows, length) bool: positions whose next token is labelled
    targets: torch.Tensor                 # (keep.sum(),) the labelled next tokens, row-major
    n_input_tokens: int                   # non-padding tokens fed to the model
    cu_seq_lens: torch.Tensor | None = None   # packed: (conversations + 1,) int32 bounds in the row

    @property
    def n_targets(self) -> int:
        return int(self.targets.numel())

    def model_inputs(self) -> dict[str, Any]:
        inputs: dict[str, Any] = {"input_ids": self.input_ids, "position_ids": self.position_ids,
                                  "logits_to_keep": self.keep}
        if self.attention_mask is not None:
            inputs["attention_mask"] = self.attention_mask
        if self.cu_seq_lens is not None:
            longest = int((self.cu_seq_lens[1:] - self.cu_seq_lens[:-1]).max())
            inputs.update(cu_seq_lens_q=self.cu_seq_lens, cu_seq_lens_k=self.cu_seq_lens,
                          max_length_q=longest, max_length_k=longest)
        return inputs

    def to(self, device: torch.device | str) -> MicroBatch:
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return MicroBatch(move(self.input_ids), move(self.position_ids), move(self.attention_mask),
                          move(self.keep), move(self.targets), self.n_input_tokens, move(self.cu_seq_lens))


def _shifted(example: TokenizedConversation) -> tuple[list[bool], list[int]]:
    # Position p predicts token p+1: keep p when token p+1 is labelled. Computed per
    # conversation, so a prediction never crosses into the next packed conversation.
    keep = [label != IGNORE_INDEX for label in example.labels[1:]] + [False]
    targets = [label for label in example.labels[1:] if label != IGNORE_INDEX]
    return keep, targets


def collate(examples: Sequence[TokenizedConversation], *, packing: bool, pad_token_id: int) -> MicroBatch:
    """One micro-batch: a single padding-free row (packing) or one right-padded row each."""
    if not examples:
        raise ValueError("cannot collate an empty micro-batch")
    shifted = [_shifted(e) for e in examples]
    targets = torch.tensor([t for _, ts in shifted for t in ts], dtype=torch.long)
    n_input = sum(len(e.input_ids) for e in examples)
    if packing:
        ids = [t for e in examples for t in e.input_ids]
        positions = [p for e in examples for p in range(len(e.input_ids))]
        keep = [k for ks, _ in shifted for k in ks]
        bounds = torch.tensor([0] + [len(e.input_ids) for e in examples]).cumsum(0).to(torch.int32)
        return MicroBatch(torch.tensor([ids]), torch.tensor([positions]), None,
                          torch.tensor([keep], dtype=torch.bool), targets, n_input, bounds)
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    keep = torch.zeros((len(examples), width), dtype=torch.bool)
    for row, (example, (row_keep, _)) in enumerate(zip(examples, shifted, strict=True)):
        n = len(example.input_ids)
        ids[row, :n] = torch.tensor(example.input_ids)
        mask[row, :n] = 1
        keep[row, :n] = torch.tensor(row_keep, dtype=torch.bool)
    positions = torch.arange(width).expand(len(examples), width).clone()
    return MicroBatch(ids, positions, mask, keep, targets, n_input)
