"""Constrained decoding for a transformers model: a request's `output` as a token mask.

llguidance (the grammar engine behind vLLM's ``guidance`` structured-output backend and
llama.cpp's) compiles the JSON Schema, or the choice among options, into a matcher over
the tokenizer's vocabulary; at every decoding step the matcher's bitmask leaves only the
tokens that keep the reply inside the grammar, and once the reply is complete only
end-of-sequence. We picked it over xgrammar (vLLM's default) because it installs here as
one 3 MB wheel with no dependencies, where xgrammar pulls triton.

JSON is decoded compact (no free whitespace: a small model given the choice spends its
allowance on newlines), and a choice is decoded bare, the option's own tokens, so a
routing answer costs a few tokens rather than a JSON object's dozen.

Vendor strict modes refuse some keywords (string lengths, numeric bounds), so their clients
move them into the description as ``{maxLength: 240}`` (the anthropic SDK's
`transform_schema`, and `structured.strip_for_openai`). A schema that reaches a local
engine that way, through the rehearsal's gateway, gets them back as keywords here
(`restore_moved_keywords`): the local stand-in enforces what a vendor's model would read, so
a judge's rationale stays short enough for its JSON to close within the allowance.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

import llguidance
import llguidance.hf
import llguidance.torch
import torch
from transformers import LogitsProcessor

from .base import ChatRequest, OutputSchema
from .tool_text import call_grammar

__all__ = ["GrammarConstraint", "Grammars", "grammar_for", "grammar_of", "restore_moved_keywords"]

_MOVABLE = ("minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems")
_MOVED = re.compile(r"(?:\n\n)?\{((?:\s*\w+: [-\d.]+,?)+)\}\s*$")


def restore_moved_keywords(schema: Any) -> Any:
    """`schema` with the numeric keywords a vendor client moved into descriptions (a trailing
    ``{maxLength: 240, ...}``) made keywords again; anything else is left as it is."""
    if isinstance(schema, list):
        return [restore_moved_keywords(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {k: restore_moved_keywords(v) for k, v in schema.items()}
    description = result.get("description")
    match = _MOVED.search(description) if isinstance(description, str) else None
    if match:
        pairs = dict(part.split(": ") for part in (p.strip() for p in match.group(1).split(",")) if part)
        if set(pairs) <= set(_MOVABLE):
            for key, value in pairs.items():
                result.setdefault(key, float(value) if "." in value else int(value))
            rest = description[: match.start()]
            if rest:
                result["description"] = rest
            else:
                del result["description"]
    return result


def grammar_for(request: ChatRequest) -> str | None:
    """The grammar a request's reply must follow: its `output`'s, else a required tool call's
    (see `tool_text.call_grammar`); None when the reply is free."""
    if request.output is not None:
        return grammar_of(request.output)
    grammar = call_grammar(request)
    if grammar is not None:
        error = llguidance.LLMatcher.validate_grammar(grammar)
        if error:
            raise ValueError(f"the tools' parameters cannot be decoded under a grammar: {error}")
    return grammar


def grammar_of(output: OutputSchema) -> str:
    """The llguidance grammar of `output` (raises ValueError for a schema it cannot compile)."""
    return _grammar(output.model_dump_json())


@lru_cache(maxsize=256)
def _grammar(output_json: str) -> str:
    output = OutputSchema.model_validate_json(output_json)
    if output.json_schema is not None:
        grammar = llguidance.LLMatcher.grammar_from_json_schema(
            restore_moved_keywords(output.json_schema), defaults={"whitespace_flexible": False})
    elif output.choices:
        # Lark string literals are JSON strings.
        grammar = llguidance.LLMatcher.grammar_from_lark(
            "start: " + " | ".join(json.dumps(choice) for choice in output.choices))
    else:
        raise ValueError(f"output {output.name!r} has neither a json_schema nor choices")
    error = llguidance.LLMatcher.validate_grammar(grammar)
    if error:
        raise ValueError(f"output {output.name!r} cannot be decoded under a grammar: {error}")
    return grammar


class Grammars:
    """The llguidance view of one tokenizer (built once: about a second) and the matchers of
    the requests that decode with it."""

    def __init__(self, tokenizer: Any, vocab_size: int, eos: list[int]) -> None:
        self.vocab_size = vocab_size
        self.tokenizer = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size, eos_token=eos)

    def constraint(self, requests: list[ChatRequest]) -> GrammarConstraint | None:
        """A logits processor for a batch whose rows with a grammar (`grammar_for`) are
        constrained; None when no row has one."""
        grammars = [grammar_for(r) for r in requests]
        if all(g is None for g in grammars):
            return None
        matchers = []
        for grammar in grammars:
            matcher = None if grammar is None else llguidance.LLMatcher(self.tokenizer, grammar, log_level=0)
            if matcher is not None and matcher.is_error():
                raise ValueError(f"a reply's grammar cannot be decoded: {matcher.get_error()}")
            matchers.append(matcher)
        return GrammarConstraint(matchers, self.vocab_size)


class GrammarConstraint(LogitsProcessor):
    """Masks each constrained row's logits to its grammar; unconstrained rows pass untouched.

    `generate` calls it once per step with the ids so far: the token chosen at the previous
    step is fed to the row's matcher first. A row whose matcher has stopped (it ended) or
    failed is left alone; its padding is not the grammar's business.
    """

    def __init__(self, matchers: list[llguidance.LLMatcher | None], vocab_size: int) -> None:
        self.matchers = matchers
        self.vocab_size = vocab_size
        self._bitmask = llguidance.torch.allocate_token_bitmask(1, vocab_size)
        self._bits = torch.arange(32, dtype=torch.int32)
        self._started = False

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores.clone()
        for row, matcher in enumerate(self.matchers):
            if matcher is None or matcher.is_stopped() or matcher.is_error():
                continue
            if self._started and not matcher.consume_token(int(input_ids[row, -1])):
                continue                        # now in error: the reply fails its parse
            llguidance.torch.fill_next_token_bitmask(matcher, self._bitmask, 0)
            allowed = ((self._bitmask[0].unsqueeze(1) >> self._bits) & 1).flatten()[: scores.shape[1]]
            scores[row, allowed == 0] = float("-inf")
        self._started = True
        return scores
