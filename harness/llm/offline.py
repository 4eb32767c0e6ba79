"""A deterministic stand-in for the frontier model when there are no API keys.

It is not a language model: it plays the part `request.hint` gives it.

- ``turn``: render one of ``hint.examples`` (jinja2, sandboxed, strict) with
  ``hint.variables`` (for a chain, ``hint.steps``: one per step, joined); which one is a hash of (seed, trial, messages), so a seed reproduces a
  run and trials of the same request differ — except at a hub, where ``hint.toward`` names
  the branch taken and the example lexically closest to it is spoken.
- ``route``: pick the key of ``hint.options`` whose texts are lexically closest (TF-IDF
  cosine over character n-grams, stop words removed) to the latest user message; ties go
  to the option listed first.
- a ``turn`` whose hint names a ``tool`` (a tool step): when the request carries ``tools``,
  call it — ``ChatResult.tool_calls`` with ``hint.arguments`` rendered with
  ``hint.variables`` (the values the customer stated); without ``tools``, the same call
  as text in the compiled model's convention (``harness.tool_format``).
- ``judge``: reply with ``hint.verdict["scores"]`` (precomputed by the caller) in the
  rubric's JSON shape: the criteria at the top level beside a ``rationale``.

Usage is counted with SmolLM2's real tokenizer over a ChatML rendering of the messages, so
offline token counts have the size of real ones. Result model ids always start "offline".
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from typing import Any

from ..templates import render, render_value
from .base import ChatRequest, ChatResult, Hint, Message, ToolCall, Usage
from .errors import LLMError
from .provider import Provider
from .tool_text import call_text

__all__ = ["OfflineHintError", "OfflineModel", "choose_option", "usage_tokenizer"]

_WORD = re.compile(r"[a-z0-9]+")


class OfflineHintError(LLMError):
    """The request does not carry what the offline model needs to answer it."""


class OfflineModel(Provider):
    provider = "offline"
    cacheable = False  # already a pure function of the request; caching would only cost I/O

    def __init__(self, label: str | None = None) -> None:
        self.model_id = f"offline:{label}" if label else "offline"
        self.name = self.model_id

    async def generate(self, request: ChatRequest) -> ChatResult:
        hint = request.hint
        if hint is None:
            raise OfflineHintError(
                f"{self.name} needs request.hint (task 'turn', 'route' or 'judge'): it is a "
                "deterministic stand-in, not a language model, and cannot answer free text"
            )
        if hint.task == "turn" and hint.tool is not None:
            call = _tool_call(request, hint)
            if request.tools and request.tool_choice != "none":
                return ChatResult(text="", usage=count_usage(request.messages, call_text(call)),
                                  model=self.model_id, tool_calls=(call,))
            text = call_text(call)
        elif hint.task == "turn":
            text = _turn(request, hint)
        elif hint.task == "route":
            text = choose_option(_latest_user_text(request.messages), hint.options)
        else:
            text = _judge(hint)
        return ChatResult(text=text, usage=count_usage(request.messages, text), model=self.model_id)


def _turn(request: ChatRequest, hint: Hint, step: int | None = None) -> str:
    if hint.steps:  # one message for a chain of steps: each step's words, in order
        return " ".join(_turn(request, part, i) for i, part in enumerate(hint.steps))
    if not hint.examples:
        raise OfflineHintError(
            f"hint for a 'turn' (node {hint.node!r}, speaker {hint.speaker!r}) has no examples "
            "to render; give hint.examples at least one template"
        )
    state = json.dumps(
        {
            "seed": request.seed,
            "trial": request.trial,
            "messages": [[m.role, m.content] for m in request.messages],
            **({"step": step} if step is not None else {}),
        },
        sort_keys=True,
    )
    index = int.from_bytes(hashlib.sha256(state.encode()).digest()[:8], "big") % len(hint.examples)
    if hint.toward and len(hint.examples) > 1:
        options = {str(i): (example,) for i, example in enumerate(hint.examples)}
        index = int(choose_option(hint.toward, options))
    return render(hint.examples[index], hint.variables)


def _tool_call(request: ChatRequest, hint: Hint) -> ToolCall:
    if request.tools and hint.tool not in {t.name for t in request.tools}:
        raise OfflineHintError(f"hint names tool {hint.tool!r}, which the request does not offer "
                               f"({', '.join(t.name for t in request.tools)})")
    arguments = render_value(dict(hint.arguments), hint.variables)
    digest = hashlib.sha256(json.dumps([request.seed, len(request.messages)]).encode()).hexdigest()[:12]
    return ToolCall(id=f"call_{digest}", name=hint.tool or "", arguments=arguments)


def _latest_user_text(messages: tuple[Message, ...]) -> str:
    for message in reversed(messages):
        if message.role == "user":
            return message.content
    raise OfflineHintError("a 'route' request needs at least one user message to route on")


def choose_option(text: str, options: dict[str, tuple[str, ...]]) -> str:
    """The key of `options` whose texts are most similar to `text` (first listed wins ties)."""
    if not options:
        raise OfflineHintError("a 'route' hint needs hint.options (option key -> describing texts)")
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import linear_kernel

    keys = list(options)
    # Each option is described by its texts and by its key ("refund_request" -> "refund request").
    described = [
        (i, t) for i, key in enumerate(keys) for t in (key.replace("_", " "), *options[key])
    ]
    corpus = [_content_words(text)] + [_content_words(t) for _, t in described]
    if not corpus[0].strip():
        return keys[0]
    # Character n-grams within words match inflections ("refunded" ~ "refund") without a stemmer.
    vectors = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True
    ).fit_transform(corpus)
    similarity = linear_kernel(vectors[0:1], vectors[1:]).ravel()
    best = [0.0] * len(keys)
    for (option, _), score in zip(described, similarity, strict=True):
        best[option] = max(best[option], float(score))
    return keys[max(range(len(keys)), key=lambda i: (best[i], -i))]


def _content_words(text: str) -> str:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return " ".join(w for w in _WORD.findall(text.lower()) if w not in ENGLISH_STOP_WORDS)


def _judge(hint: Hint) -> str:
    scores = hint.verdict.get("scores")
    if not isinstance(scores, dict):
        raise OfflineHintError(
            "a 'judge' hint needs hint.verdict['scores'] (a dict of criterion -> score), "
            f"found keys {sorted(hint.verdict)}"
        )
    rationale = hint.verdict.get("rationale") or "offline judge: scores precomputed from the trace"
    # The rubric's reply shape: the criteria at the top level beside a rationale.
    return json.dumps({**scores, "rationale": rationale})


@cache
def usage_tokenizer() -> Any:
    """SmolLM2's tokenizer, loaded once per process (`usage_tokenizer.cache_clear()` resets)."""
    from .weights import SMOLLM2_ALIAS, load_tokenizer

    return load_tokenizer(SMOLLM2_ALIAS)


def count_usage(messages: tuple[Message, ...], text: str) -> Usage:
    from .weights import CHATML_TEMPLATE

    tokenizer = usage_tokenizer()
    # ChatML framing without SmolLM2's built-in default system prompt, which no real API adds.
    prompt = tokenizer.apply_chat_template(
        [{"role": m.role, "content": m.content} for m in messages],
        chat_template=CHATML_TEMPLATE,
        add_generation_prompt=True,
        tokenize=True,
        return_dict=False,
    )
    output = tokenizer.encode(text, add_special_tokens=False)
    return Usage(input_tokens=len(prompt), output_tokens=len(output), calls=1)
