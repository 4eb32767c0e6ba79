"""The one way a spec file (procedure, scenario set, gate suite, recipe) becomes a model.

`load_spec` reads and parses the YAML (`yaml_source`), then validates it into a pydantic
model; every problem comes back as a `SpecErrors` of ``file:line: message`` lines. Models
that subclass `Sourced` keep the `SourceMap` they were loaded from (as `.source`), so
later cross-file checks can point at lines too.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, PrivateAttr, ValidationError, ValidationInfo, model_validator

from harness.errors import SpecError, SpecErrors
from harness.yaml_source import SourceMap, load_yaml

M = TypeVar("M", bound=BaseModel)


class Sourced(BaseModel):
    """A model that remembers the file (and line numbers) it was validated from."""

    _source: SourceMap | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _take_source(self, info: ValidationInfo) -> Sourced:
        if info.context and "source" in info.context:
            self._source = info.context["source"]
        return self

    @property
    def source(self) -> SourceMap | None:
        """Where this was loaded from (file and line numbers), if from a file."""
        return self._source


def read_mapping(path: str | Path, kind: str, text: str | None = None) -> tuple[dict[str, Any], SourceMap]:
    """Parse `path` (or `text` labelled `path`), which must hold one mapping; `kind` names it
    in the error ("a procedure file must be a mapping …")."""
    try:
        data, source = load_yaml(path, text)
    except SpecError as e:
        raise SpecErrors([e]) from None
    if not isinstance(data, dict):
        raise SpecErrors([source.error(f"{kind} must be a mapping of keys to values, found "
                                       f"{type(data).__name__}")])
    return data, source


def validate_spec(model: type[M], data: dict[str, Any], source: SourceMap) -> M:
    """`model` from `data`, errors located through `source`; raises `SpecErrors`."""
    try:
        return model.model_validate(data, context={"source": source})
    except ValidationError as e:
        raise SpecErrors(pydantic_errors(e, source, data, model)) from None


def load_spec(path: str | Path, model: type[M], kind: str, text: str | None = None) -> M:
    """Read, parse and validate one spec file into `model`; raises `SpecErrors`."""
    data, source = read_mapping(path, kind, text)
    return validate_spec(model, data, source)


def file_schema(model: type[BaseModel], title: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a file format whose content `model` validates."""
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = title
    return schema


def _data_path(data: Any, loc: tuple) -> tuple:
    """The part of pydantic's `loc` that is a path into `data`: unions and tagged unions put
    branch names ("str", "list[…]", "range") in loc; a missing key is kept as the last step."""
    path: list = []
    current = data
    for i, step in enumerate(loc):
        if isinstance(current, dict) and step in current:
            current = current[step]
        elif isinstance(current, list) and isinstance(step, int) and 0 <= step < len(current):
            current = current[step]
        elif i == len(loc) - 1 and isinstance(current, dict):
            current = None                   # a missing key: still where the error is
        else:
            continue
        path.append(step)
    return tuple(path)


def pydantic_errors(exc: ValidationError, source: SourceMap, data: Any,
                    model: type[BaseModel] | None = None) -> list[SpecError]:
    """Pydantic's errors as file:line errors (a misspelt key reported once, as a typo; with
    `model`, an unknown key also gets the nearest key allowed where it stands)."""
    out: list[SpecError] = []
    raw = exc.errors()
    paths = [_data_path(data, tuple(e["loc"])) for e in raw]
    for i, e in enumerate(raw):
        path = paths[i]
        node = path[1] if len(path) > 1 and path[0] == "nodes" else None
        field = ".".join(str(p) for p in path[2:] if node) if node else ".".join(map(str, path))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = f"unknown key '{path[-1]}'{_nearest_key(model, path)}"
        elif e["type"] == "missing":
            msg = f"missing required key '{path[-1]}'"
        elif e["type"] == "string_pattern_mismatch":
            msg = f"{field or 'value'} {_shown(e['input'])} must be an identifier ([a-z0-9_]+)"
        else:
            if not isinstance(e.get("input"), (dict, list)) and e["type"] != "value_error":
                msg += f" (found {_shown(e.get('input'))})"
            msg = f"{field}: {msg}" if field else msg
        out.append(source.error(msg, path, node))
    # A union's other arms fail on the value's shape ("should be a valid string" for a list of
    # edges) beside the arm that fits and fails deeper: only the deeper error says what is wrong.
    shadowed = {id(out[i]) for i, e in enumerate(raw)
                if (e["type"].endswith("_type") or e["type"] == "none_required")
                and any(len(q) > len(paths[i]) and q[:len(paths[i])] == paths[i] for q in paths)}
    out = [err for err in _merge_typos(exc, out) if id(err) not in shadowed]
    # A union failure yields several errors at one place; keep the first per (line, node).
    unique: dict[tuple, SpecError] = {}
    for err in out:
        unique.setdefault((err.line, err.node), err)
    return list(unique.values())


def _nearest_key(model: type[BaseModel] | None, path: tuple) -> str:
    """' (did you mean …?)' for an unknown key at `path`, else the keys allowed there ('' when
    the place is not a model's)."""
    allowed = sorted(_keys_at(model, path[:-1])) if model is not None else []
    if not allowed:
        return ""
    key = str(path[-1])
    # Close in spelling, or a shortening ('args' for 'arguments'); 'insert' is not 'set'.
    match = difflib.get_close_matches(key, allowed, n=1, cutoff=0.75) or [
        k for k in allowed if len(key) >= 3 and k.startswith(key)][:1]
    if match:
        return f" (did you mean '{match[0]}'?)"
    return f" (keys here: {', '.join(allowed)})"


def _keys_at(annotation: Any, path: tuple) -> set[str]:
    """The field names of the model found at `path` inside `annotation` (a model class, or a
    dict/list/optional/annotated type of one); empty when `path` leads to no model."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _keys_at(args[0], path)
    if origin in (Union, UnionType):
        return set().union(*(_keys_at(arm, path) for arm in args))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if not path:
            return set(annotation.model_fields)
        field = annotation.model_fields.get(str(path[0]))
        return _keys_at(field.annotation, path[1:]) if field is not None else set()
    if not path:
        return set()
    if origin is dict and len(args) == 2:
        return _keys_at(args[1], path[1:])
    if origin is list and args:
        return _keys_at(args[0], path[1:]) if isinstance(path[0], int) else set()
    return set()


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"


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
