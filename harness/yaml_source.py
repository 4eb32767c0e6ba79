"""YAML loading that remembers where every value came from.

PyYAML's composed node tree carries marks; we build plain Python data from it and a map
from each value's path (e.g. ``("nodes", "greet", "next", 0, "to")``) to its 1-based line,
so later validation can point at the exact line. Duplicate mapping keys are an error
(PyYAML would silently keep the last one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.errors import SpecError

PathKey = tuple[Any, ...]


class SourceMap:
    """Line numbers of values in one YAML file, looked up by data path."""

    def __init__(self, file: str, lines: dict[PathKey, int]) -> None:
        self.file = file
        self._lines = lines

    def line(self, path: PathKey) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return self._lines.get((), 1)

    def error(self, message: str, path: PathKey = (), node: str | None = None) -> SpecError:
        return SpecError(message, file=self.file, line=self.line(path), node=node)


def _build(node: yaml.Node, path: PathKey, lines: dict[PathKey, int], file: str) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader.construct_object(_LOADER_SHIM, key_node, deep=True)  # type: ignore[arg-type]
            if not isinstance(key, (str, int, float, bool)):
                raise SpecError("mapping keys must be plain scalars", file=file,
                                line=key_node.start_mark.line + 1)
            if key in out:
                raise SpecError(
                    f"duplicate key '{key}' (first defined on line {lines[path + (key,)]})",
                    file=file, line=key_node.start_mark.line + 1,
                    node=key if len(path) == 1 and path[0] == "nodes" else None,
                )
            out[key] = _build(value_node, path + (key,), lines, file)
            lines[path + (key,)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), lines, file) for i, item in enumerate(node.value)]
    return yaml.SafeLoader.construct_object(_LOADER_SHIM, node, deep=True)  # type: ignore[arg-type]


class _Shim(yaml.SafeLoader):
    def __init__(self) -> None:  # a constructor without a stream, used only for scalars
        yaml.SafeLoader.__init__(self, "")


_LOADER_SHIM = _Shim()


def load_yaml(path: str | Path, text: str | None = None) -> tuple[Any, SourceMap]:
    """Parse one YAML document; return its data and a `SourceMap`.

    Raises `SpecError` (file:line) for unreadable files, syntax errors, duplicate keys.
    """
    file = str(path)
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise SpecError(f"cannot read file: {e.strerror}", file=file) from None
        except UnicodeDecodeError:
            raise SpecError("file is not valid UTF-8", file=file) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        problem = e.problem or e.context or "invalid YAML"
        raise SpecError(f"YAML syntax error: {problem}", file=file, line=line) from None
    except yaml.YAMLError as e:
        raise SpecError(f"YAML error: {e}", file=file) from None
    if root is None:
        raise SpecError("file is empty", file=file, line=1)
    lines: dict[PathKey, int] = {}
    try:
        data = _build(root, (), lines, file)
    except yaml.constructor.ConstructorError as e:
        mark = e.problem_mark
        raise SpecError(f"YAML error: {e.problem}", file=file,
                        line=mark.line + 1 if mark else None) from None
    return data, SourceMap(file, lines)
