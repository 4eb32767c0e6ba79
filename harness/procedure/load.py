"""Read a procedure file into a validated `Procedure`."""

from __future__ import annotations

import difflib
from pathlib import Path

from pydantic import ValidationError

from harness.errors import SpecError, SpecErrors
from harness.procedure.spec import Procedure
from harness.procedure.validate import check_procedure
from harness.yaml_source import SourceMap, load_yaml


def pydantic_errors(exc: ValidationError, source: SourceMap, kind: str) -> list[SpecError]:
    """Turn pydantic's errors into file:line errors; `kind` names the document type."""
    out: list[SpecError] = []
    for e in exc.errors():
        loc = tuple(e["loc"])
        # Unions report one error per branch with the branch name in loc; keep the data path.
        path = tuple(p for p in loc if not (isinstance(p, str) and (p.startswith(("list[", "str", "function-"))
                                                                  or p in {"constrained-str"})))
        node = path[1] if len(path) > 1 and path[0] == "nodes" else None
        field = ".".join(str(p) for p in path[2:] if node) if node else ".".join(map(str, path))
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = f"unknown key '{path[-1]}'"
        elif e["type"] == "missing":
            msg = f"missing required key '{path[-1]}'"
        elif e["type"] == "string_pattern_mismatch":
            msg = f"{field or 'value'} {e['input']!r} must be an identifier ([a-z0-9_]+)"
        else:
            msg = f"{field}: {msg}" if field else msg
        out.append(source.error(msg, path, node))
    out = _merge_typos(exc, out)
    # A union failure yields several errors at one place; keep the first per (line, node).
    unique: dict[tuple, SpecError] = {}
    for err in out:
        unique.setdefault((err.line, err.node), err)
    return list(unique.values())


def _merge_typos(exc: ValidationError, errors: list[SpecError]) -> list[SpecError]:
    """A misspelt key shows up as 'unknown X' plus 'missing Y'; report it once, as a typo."""
    raw = exc.errors()
    missing = {tuple(e["loc"]): i for i, e in enumerate(raw) if e["type"] == "missing"}
    drop: set[int] = set()
    for i, e in enumerate(raw):
        if e["type"] != "extra_forbidden":
            continue
        loc = tuple(e["loc"])
        siblings = {loc_[-1]: j for loc_, j in missing.items() if loc_[:-1] == loc[:-1]}
        match = difflib.get_close_matches(str(loc[-1]), [str(k) for k in siblings], n=1)
        if match:
            drop.add(siblings[match[0]])
            errors[i] = SpecError(f"unknown key '{loc[-1]}' (did you mean '{match[0]}'?)",
                                  file=errors[i].file, line=errors[i].line, node=errors[i].node)
    return [err for i, err in enumerate(errors) if i not in drop]


def load_procedure(path: str | Path, text: str | None = None) -> Procedure:
    """Load and validate; raises `SpecErrors` listing every problem, each with file:line."""
    try:
        data, source = load_yaml(path, text)
    except SpecError as e:
        raise SpecErrors([e]) from None
    if not isinstance(data, dict):
        raise SpecErrors([source.error("a procedure file must be a mapping with name, start, nodes …")])
    try:
        procedure = Procedure.model_validate(data)
    except ValidationError as e:
        raise SpecErrors(pydantic_errors(e, source, "procedure")) from None
    errors = check_procedure(procedure, source)
    if errors:
        raise SpecErrors(errors)
    procedure._source = source  # noqa: SLF001 - kept for later cross-file checks
    return procedure
