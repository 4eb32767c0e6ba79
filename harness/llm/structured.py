"""What an `OutputSchema` means on the wire, shared by every provider.

A request's `output` is a JSON Schema or a choice among named options. Vendors constrain
JSON only, so a choice travels as the object ``{"choice": <one of the options>}``
(`wire_schema`) and comes back unwrapped (`reply_text`): callers of any provider read the
bare option for a choice and the JSON document for a schema. Local engines constrain the
bare option directly (`choice_grammar`), which costs a few tokens instead of a dozen.
"""

from __future__ import annotations

import json
from typing import Any

from .base import OutputSchema

__all__ = ["CHOICE_KEY", "reply_text", "strip_for_openai", "wire_schema"]

CHOICE_KEY = "choice"


def wire_schema(output: OutputSchema) -> dict[str, Any]:
    """The JSON Schema a vendor enforces for `output` (strict-mode shape: an object root,
    every property required, no others)."""
    if output.json_schema is not None:
        return output.json_schema
    if not output.choices:
        raise ValueError(f"output {output.name!r} has neither a json_schema nor choices")
    return {
        "type": "object",
        "properties": {CHOICE_KEY: {"type": "string", "enum": list(output.choices)}},
        "required": [CHOICE_KEY],
        "additionalProperties": False,
    }


def reply_text(output: OutputSchema, document: str) -> str:
    """What the caller reads from a vendor's constrained reply: the option of a choice, or
    the JSON document unchanged. A reply that is not the wrapped choice is passed on as it
    came (the caller's parser then counts it as unparsed)."""
    if output.json_schema is not None:
        return document
    try:
        value = json.loads(document)
    except json.JSONDecodeError:
        return document
    if isinstance(value, dict) and isinstance(value.get(CHOICE_KEY), str):
        return value[CHOICE_KEY]
    return document


def strip_for_openai(schema: Any) -> Any:
    """`schema` without the keywords OpenAI's strict mode refuses (string lengths), which are
    moved into the description as the anthropic SDK's `transform_schema` does; local engines
    enforce them, OpenAI's models read them."""
    if isinstance(schema, list):
        return [strip_for_openai(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    moved = {k: schema[k] for k in ("minLength", "maxLength") if k in schema}
    result = {k: strip_for_openai(v) for k, v in schema.items() if k not in moved}
    if moved:
        note = "{" + ", ".join(f"{k}: {v}" for k, v in moved.items()) + "}"
        result["description"] = f"{result['description']}\n\n{note}" if result.get("description") else note
    return result
