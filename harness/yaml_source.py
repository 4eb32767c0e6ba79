"""YAML loading that remembers where every value came from, and refuses hostile input.

We drive libyaml's C parser (`yaml.CSafeLoader`) event by event and build plain Python
data with an explicit stack, recording each value's 1-based line under its data path
(e.g. ``("nodes", "greet", "next", 0, "to")``) so validation can point at the exact line.

Every limit below turns what would be a hang, a traceback or gigabytes of memory into one
``file:line: message`` `SpecError`:

- only regular files, at most `MAX_BYTES`, opened non-blocking (no FIFO, device, /dev/zero);
- characters YAML forbids (control characters) are reported with their line;
- nesting deeper than `MAX_DEPTH` (no recursion anywhere, so no RecursionError);
- aliases are shared, never re-expanded, but count as the values they stand for: more than
  `MAX_VALUES` in all (an alias bomb) is refused, and so is an alias inside its own anchor;
- merge keys (``<<: *base``) are supported; explicit keys win over merged ones;
- only the plain tags (str, int, float, bool, null, timestamp, map, seq); a value that does
  not fit its explicit tag (``!!float x``) is an error on its line;
- duplicate mapping keys are an error (PyYAML would silently keep the last one);
- booleans are YAML 1.2's `true`/`false` only: `yes`, `no`, `on`, `off` stay strings.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import SpecError

PathKey = tuple[Any, ...]

MAX_BYTES = 4 * 1024 * 1024     # the largest shipped procedure is ~40 kB
MAX_DEPTH = 64                  # procedures nest ~6 deep
MAX_VALUES = 200_000            # values after alias expansion

_FORBIDDEN = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_TAG}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}
_MERGE = f"{_TAG}merge"


class SourceMap:
    """Line numbers of values in one YAML file, looked up by data path."""

    def __init__(self, file: str, lines: dict[PathKey, int], origin: Path | None = None) -> None:
        self.file = file
        self.origin = origin          # the resolved file on disk, when read from one
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


def read_text(path: str | Path) -> str:
    """The file's text; refuses non-regular files, files over `MAX_BYTES` and non-UTF-8."""
    file = str(path)
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise SpecError("is a directory, not a YAML file", file=file)
        if not stat.S_ISREG(info.st_mode):   # a FIFO would block, a device may never end
            raise SpecError("is not a regular file (a pipe, socket or device); refusing to read it", file=file)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):   # swapped since the stat
                raise SpecError("is not a regular file; refusing to read it", file=file)
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise SpecError(f"cannot read file: {e.strerror or e}", file=file) from None
    _check_size(len(data), file)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise SpecError(f"file is not valid UTF-8 (byte {data[e.start]:#04x})", file=file, line=line) from None


def _check_size(size: int, file: str) -> None:
    if size > MAX_BYTES:
        raise SpecError(f"file is larger than {MAX_BYTES // (1024 * 1024)} MiB; refusing to parse it", file=file)


def load_yaml(path: str | Path, text: str | None = None) -> tuple[Any, SourceMap]:
    """Parse one YAML document (from `path`, or `text` labelled `path`); return its data and a
    `SourceMap`. Raises `SpecError` (file:line) for every problem listed in the module doc."""
    file = str(path)
    origin = None
    if text is None:
        text = read_text(path)
        origin = Path(path).resolve()
    _check_size(len(text), file)
    bad = _FORBIDDEN.search(text)
    if bad:
        raise SpecError(f"character U+{ord(bad.group()):04X} is not allowed in YAML (column "
                        f"{bad.start() - text.rfind(chr(10), 0, bad.start())})",
                        file=file, line=text.count("\n", 0, bad.start()) + 1)
    builder = _Builder(file)
    try:
        for event in yaml.parse(text, Loader=yaml.CSafeLoader):
            builder.feed(event)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = e.problem or e.context or "invalid YAML"
        raise SpecError(f"YAML syntax error: {problem}", file=file, line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as e:
        raise SpecError(f"YAML error: {str(e).splitlines()[0]}", file=file) from None
    if builder.root is _NO_VALUE or builder.root is None:
        raise SpecError("file is empty", file=file, line=1)
    return builder.root, SourceMap(file, builder.lines, origin)


@dataclass
class _Frame:
    """A mapping or sequence being built."""

    value: dict | list
    path: PathKey
    anchor: str | None
    size: int = 1
    key: Any = None                   # mappings: the key waiting for its value
    key_line: int = 0
    has_key: bool = False
    merges: list[tuple[dict, int]] = field(default_factory=list)


_NO_VALUE = object()


class _Builder:
    """Plain data and line numbers from a stream of parser events; no recursion."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[PathKey, int] = {}
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}   # anchor -> (value, values it stands for)
        self.open_anchors: set[str] = set()
        self.total = 0
        self.documents = 0
        self.root: Any = _NO_VALUE

    def error(self, message: str, event: yaml.Event, node: str | None = None) -> SpecError:
        return SpecError(message, file=self.file, line=event.start_mark.line + 1, node=node)

    def feed(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise self.error("expected one YAML document, found another (a second `---`)", event)
        elif isinstance(event, yaml.ScalarEvent):
            self._scalar(event)
        elif isinstance(event, yaml.AliasEvent):
            self._alias(event)
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            self._start(event)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            self._end()

    # ---- values ------------------------------------------------------------------------

    def _expecting_key(self) -> bool:
        top = self.stack[-1] if self.stack else None
        return top is not None and isinstance(top.value, dict) and not top.has_key

    def _child_path(self) -> PathKey:
        if not self.stack:
            return ()
        top = self.stack[-1]
        return top.path + ((top.key,) if isinstance(top.value, dict) else (len(top.value),))

    def _count(self, n: int, event: yaml.Event) -> None:
        self.total += n
        if self.total > MAX_VALUES:
            raise self.error(f"more than {MAX_VALUES:,} values (each use of an alias counts what it "
                             "stands for); refusing to expand further", event)

    def _scalar(self, event: yaml.ScalarEvent) -> None:
        tag = event.tag
        if tag in (None, "!"):
            tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)
        if self._expecting_key():
            if tag == _MERGE:
                self._set_key(_MERGE, event)
                return
            self._set_key(self._construct(tag, event), event)
            return
        value = self._construct(tag, event)
        self._count(1, event)
        if event.anchor:
            self.anchors[event.anchor] = (value, 1)
        self._add(value, 1, event)

    def _construct(self, tag: str, event: yaml.ScalarEvent) -> Any:
        if tag == _MERGE:
            raise self.error("`<<` (a YAML merge key) may only be used as a mapping key", event)
        if tag not in _SCALAR_TAGS:
            raise self.error(f"unsupported YAML tag '{_short(event.tag)}': only plain values, lists and mappings", event)
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            return _RESOLVER.yaml_constructors[tag](_RESOLVER, node)
        except (ValueError, TypeError, LookupError, AttributeError, ArithmeticError, yaml.YAMLError):
            shown = event.value if len(event.value) <= 40 else event.value[:40] + "…"
            raise self.error(f"{shown!r} is not a valid {_short(tag)}", event) from None

    def _alias(self, event: yaml.AliasEvent) -> None:
        name = event.anchor
        if name in self.open_anchors:
            raise self.error(f"alias '*{name}' is used inside the value it names (a value cannot contain itself)",
                             event)
        if name not in self.anchors:
            raise self.error(f"alias '*{name}' names no anchor ('&{name}') defined before it", event)
        value, size = self.anchors[name]
        if self._expecting_key():
            if isinstance(value, (dict, list)):
                raise self.error("mapping keys must be plain scalars", event)
            self._set_key(value, event)
            return
        self._count(size, event)
        self._add(value, size, event)

    def _start(self, event: yaml.MappingStartEvent | yaml.SequenceStartEvent) -> None:
        is_map = isinstance(event, yaml.MappingStartEvent)
        if self._expecting_key():
            raise self.error("mapping keys must be plain scalars", event)
        if event.tag not in (None, "!", f"{_TAG}{'map' if is_map else 'seq'}"):
            raise self.error(f"unsupported YAML tag '{_short(event.tag)}': only plain values, lists and mappings", event)
        if len(self.stack) >= MAX_DEPTH:
            raise self.error(f"nested more than {MAX_DEPTH} levels deep", event)
        self._count(1, event)
        path = self._child_path()
        self.lines[path] = event.start_mark.line + 1
        if event.anchor:
            self.open_anchors.add(event.anchor)
        self.stack.append(_Frame({} if is_map else [], path, event.anchor))

    def _end(self) -> None:
        frame = self.stack.pop()
        if isinstance(frame.value, dict):
            for merged, line in frame.merges:   # earlier merges win; explicit keys win over all
                for key, value in merged.items():
                    if key not in frame.value:
                        frame.value[key] = value
                        self.lines[frame.path + (key,)] = line
        if frame.anchor:
            self.open_anchors.discard(frame.anchor)
            self.anchors[frame.anchor] = (frame.value, frame.size)
        self._add(frame.value, frame.size, None, path_recorded=True)

    def _set_key(self, key: Any, event: yaml.Event) -> None:
        top = self.stack[-1]
        if key is not _MERGE:
            if not isinstance(key, (str, int, float, bool)):
                raise self.error("mapping keys must be plain scalars", event)
            if key in top.value:
                first = self.lines.get(top.path + (key,))
                raise self.error(f"duplicate key '{key}'" + (f" (first defined on line {first})" if first else ""),
                                 event, node=key if top.path == ("nodes",) else None)
        top.key, top.key_line, top.has_key = key, event.start_mark.line + 1, True

    def _add(self, value: Any, size: int, event: yaml.Event | None, path_recorded: bool = False) -> None:
        if not self.stack:
            self.root = value
            self.lines.setdefault((), 1)
            return
        top = self.stack[-1]
        top.size += size
        if isinstance(top.value, list):
            if not path_recorded:
                self.lines[top.path + (len(top.value),)] = event.start_mark.line + 1
            top.value.append(value)
            return
        key, top.has_key = top.key, False
        if key is _MERGE:
            merged = value if isinstance(value, list) else [value]
            if not all(isinstance(m, dict) for m in merged):
                raise SpecError("`<<` (merge key) takes a mapping or a list of mappings",
                                file=self.file, line=top.key_line)
            top.merges.extend((m, top.key_line) for m in merged)
            return
        top.value[key] = value
        self.lines[top.path + (key,)] = top.key_line


def _short(tag: str) -> str:
    return tag.replace(_TAG, "!!", 1)


class _Constructor(yaml.SafeLoader):
    """Used only for its resolver and scalar constructors, never on a stream.

    Booleans are YAML 1.2's: only true/false. YAML 1.1 also reads yes/no/on/off (and
    y/n) as booleans, so a node a team calls `yes` or `no` (dialogue datasets do) or a
    customer's answer `no` would silently become False.
    """

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self) -> None:
        yaml.SafeLoader.__init__(self, "")


_Constructor.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                   list("tTfF"))


_RESOLVER = _Constructor()
