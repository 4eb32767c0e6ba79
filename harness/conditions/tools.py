"""What the orchestrating conditions share about tool steps: the offline hint, the request
that asks a model for a step's arguments, and reading the arguments back.

The orchestrator knows which tool the step calls; the model only fills in the arguments from
the conversation. A reply whose arguments do not parse or fall outside the tool's schema is
replaced by the orchestrator's own slot values (the scenario's, as node prompts are rendered
with them) and counted: the call is never skipped and the run never crashes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from jsonschema import Draft202012Validator

from harness.llm.base import ChatModel, ChatRequest, ChatResult, Hint, OutputSchema, ToolCall, Usage
from harness.procedure import Procedure
from harness.procedure.validate import render_arguments
from harness.scenarios import Scenario
from harness.tool_format import parse_call
from harness.transcript import Turn

from .base import history_messages

ARGUMENTS_SYSTEM = (
    "{system_prompt}\n\nCall the tool `{tool}` now: {description}\nIts parameters (JSON Schema):\n"
    "{schema}\nTake every value from what the customer said. Reply with the arguments as one JSON object only."
)


def tool_hint(procedure: Procedure, node_id: str, scenario: Scenario) -> Hint:
    """The offline model's hint at a tool step: the tool and its argument templates."""
    node = procedure.nodes[node_id]
    return Hint(task="turn", speaker="agent", node=node_id, tool=node.tool, arguments=dict(node.arguments),
                variables=scenario.context)


def arguments_request(procedure: Procedure, node_id: str, scenario: Scenario, turns: Sequence[Turn],
                      seed: int | None) -> ChatRequest:
    """Ask for the tool step's arguments: the tool offered (and required), the schema as the output."""
    node = procedure.nodes[node_id]
    tool = procedure.tools[node.tool or ""]
    spec = procedure.tool_spec(node.tool or "")
    system = ARGUMENTS_SYSTEM.format(system_prompt=procedure.system_prompt, tool=node.tool,
                                     description=tool.description, schema=json.dumps(tool.parameters))
    return ChatRequest(messages=history_messages(system, turns, opener=True), max_tokens=128, temperature=0.0,
                       seed=seed, trial=scenario.trial, purpose="generation", tools=(spec,), tool_choice=spec.name,
                       output=OutputSchema(name=f"{spec.name}_arguments", json_schema=tool.parameters),
                       hint=tool_hint(procedure, node_id, scenario))


def read_arguments(result: ChatResult, tool: str) -> dict[str, Any] | None:
    """The arguments a reply gives: a native tool call, a `<tool_call>` text or a bare JSON object."""
    for call in result.tool_calls:
        if call.name == tool:
            return dict(call.arguments)
    _, call, _ = parse_call(result.text)
    if call is not None:
        return dict(call.arguments)
    found = re.search(r"\{.*\}", result.text, re.DOTALL)
    if found:
        try:
            value = json.loads(found.group())
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None
    return None


async def call_for_step(model: ChatModel, procedure: Procedure, node_id: str, scenario: Scenario,
                        turns: Sequence[Turn], *, seed: int | None) -> tuple[ToolCall, Usage, str, bool]:
    """The tool step's call (arguments from the model, else the slot values), the usage, the
    model id, and whether the model's arguments were unusable (the fallback was taken)."""
    node = procedure.nodes[node_id]
    result = await model.generate(arguments_request(procedure, node_id, scenario, turns, seed))
    arguments = read_arguments(result, node.tool or "")
    schema = procedure.tools[node.tool or ""].parameters
    usable = arguments is not None and not any(Draft202012Validator(schema).iter_errors(arguments))
    if not usable:
        arguments = render_arguments(procedure, node_id, scenario.context)
    call = ToolCall(id=f"call_{len(turns)}", name=node.tool or "", arguments=arguments or {})
    return call, result.usage, result.model, not usable
