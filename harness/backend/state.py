"""One conversation's copy of the backend, and what a tool call does to it.

A call's reply is a JSON object whose `result` names the tool result (the procedure's tool
step branches on it), beside the fields the tool returns. A tool that raises, times out or
answers something else is a `ToolFailure`: the runner records it as an incident and shows the
agent `{"result": "error", "error": ...}`, never a crash.
"""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

from harness.backend.spec import BackendSpec, Record, State, ToolBehaviour, load_callable

ERROR_RESULT = "error"


class ToolFailure(Exception):
    """A tool call that did not produce a result (raised, timed out, unknown tool, bad reply)."""


def error_result(message: str) -> dict[str, Any]:
    return {"result": ERROR_RESULT, "error": message}


def result_name(tool_text: str) -> str | None:
    """The `result` of a tool turn's JSON text (None when it has none)."""
    try:
        reply = json.loads(tool_text)
    except json.JSONDecodeError:
        return None
    return reply.get("result") if isinstance(reply, dict) and isinstance(reply.get("result"), str) else None


def _matches(record: Record, wanted: dict[str, Any]) -> bool:
    return all(_same(record.get(k), v) for k, v in wanted.items())


def _same(a: Any, b: Any) -> bool:
    # Customers say numbers as text and names in any case: compare as trimmed, case-folded text.
    return str(a).strip().casefold() == str(b).strip().casefold()


def _wanted(mapping: dict[str, str], arguments: dict[str, Any]) -> dict[str, Any]:
    return {field: arguments.get(arg) for field, arg in mapping.items()}


class Backend:
    """The tables one conversation acts on, and its tools' behaviour."""

    def __init__(self, spec: BackendSpec, state: State) -> None:
        self.spec = spec
        self.state: State = copy.deepcopy(state)

    def snapshot(self) -> State:
        return copy.deepcopy(self.state)

    def execute(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The tool's reply; raises ToolFailure when the tool fails (a python tool raising included)."""
        behaviour = self.spec.tools.get(name)
        if behaviour is None:
            raise ToolFailure(f"no tool named '{name}' (tools: {', '.join(self.spec.tools) or 'none'})")
        if behaviour.kind == "python":
            return self._python(behaviour, arguments)
        outcome, fields = self._declared(behaviour, arguments)
        return {"result": behaviour.result_of(outcome), **fields}

    async def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """`execute` off the event loop, bounded by the tool's `timeout_s`."""
        behaviour = self.spec.tools.get(name)
        timeout = behaviour.timeout_s if behaviour is not None else 5.0
        try:
            return await asyncio.wait_for(asyncio.to_thread(self.execute, name, arguments), timeout)
        except TimeoutError as e:
            raise ToolFailure(f"tool '{name}' did not answer within {timeout:g} s") from e

    def _python(self, behaviour: ToolBehaviour, arguments: dict[str, Any]) -> dict[str, Any]:
        fn = load_callable(behaviour.python or "")
        try:
            reply = fn(self.state, dict(arguments))
        except Exception as e:  # noqa: BLE001 - a team's tool code failing is an incident, not a crash
            raise ToolFailure(f"tool {behaviour.python} raised {type(e).__name__}: {e}") from e
        if not isinstance(reply, dict) or not isinstance(reply.get("result"), str):
            raise ToolFailure(f"tool {behaviour.python} must return a dict with a string 'result', got {reply!r:.200}")
        try:
            json.dumps(reply)
        except (TypeError, ValueError) as e:
            raise ToolFailure(f"tool {behaviour.python} returned something that is not JSON: {e}") from e
        return reply

    def _declared(self, b: ToolBehaviour, arguments: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        table = self.state.setdefault(b.table or "", [])
        if b.kind == "create":
            if b.unique and any(_matches(r, _wanted({f: b.fields.get(f, f) for f in b.unique}, arguments))
                                for r in table):
                return "duplicate", {}
            record = {"id": f"{b.table}-{len(table) + 1}", **_wanted(b.fields, arguments)}
            table.append(record)
            return "created", {"id": record["id"]}
        found = [r for r in table if _matches(r, _wanted(b.match, arguments))]
        if not found:
            return "missing", {}
        record = found[0]
        if b.check and not _matches(record, _wanted(b.check, arguments)):
            return "mismatch", {}
        if b.kind == "update":
            record.update(b.set)
            return "updated", {}
        shown = record if b.returns is None else {k: record.get(k) for k in b.returns}
        return "found", dict(shown)
