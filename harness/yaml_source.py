"""YAML loading that remembers where every value came from, and refuses hostile input.

We drive libyaml's C parser (`yaml.CSafeLoader`) event by event and build plain Python
data with an explicit stack, recording each value's 1-based line under its data path
(e.g. ``("nodes", "greet", "next", 0, "to")``) so validation can point at the exact line.

Plain scalars mean what YAML 1.2's core schema says (`_plain`), not what PyYAML's YAML 1.1
resolver says: only ``true``/``false`` (also ``True``, ``TRUE``, …) are booleans, so node ids
``yes`` and ``no`` and the country code ``NO`` stay strings; ``9:30`` is a string, not 570;
``0o17`` is octal. One rule goes beyond 1.2 so that nothing a user wrote changes silently:
a decimal integer that would not print back as written (``0123``, ``+44``) stays the string
as written (1.2 would read 123 and 44).

Every limit below turns what would be a hang, a traceback or gigabytes of memory into one
``file:line: message`` `SpecError`:

- only regular files, at most `MAX_BYTES`, opened non-blocking (no FIFO, device, /dev/zero);
- files are UTF-8, or UTF-16/32 with a byte-order mark (the encodings YAML allows);
- characters the format forbids (control characters) are reported with their line, whether
  written raw or as an escape in a double-quoted string (``"\\x1b"``);
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

import codecs
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

# YAML 1.2 core schema (yaml.org/spec/1.2.2, 10.3.2), for plain scalars and explicit tags.
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_AS_WRITTEN = re.compile(r"-?(?:0|[1-9][0-9]*)")        # a decimal integer that prints back as written
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")
_NUMERIC_START = frozenset("0123456789+-.")
# Byte-order marks, longest first (UTF-32 LE's begins with UTF-16 LE's).
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"), (codecs.BOM_UTF8, "utf-8-sig"))


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
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data[: e.start].decode(encoding, errors="replace").count("\n") + 1
        shown = encoding.upper().removesuffix("-SIG")
        raise SpecError(f"file is not valid {shown} (byte {data[e.start]:#04x} at offset {e.start}); "
                        "save it as UTF-8", file=file, line=line) from None


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
        # NUL bytes between ASCII letters: most likely UTF-16 saved without a byte-order mark.
        hint = "; is the file UTF-16 without a byte-order mark? save it as UTF-8" if bad.group() == "\0" else ""
        raise SpecError(f"character U+{ord(bad.group()):04X} is not allowed in YAML (column "
                        f"{bad.start() - text.rfind(chr(10), 0, bad.start())}){hint}",
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
        if event.style == '"':      # the only style with escapes: "\x1b" is as refused as a raw ESC
            bad = _FORBIDDEN.search(event.value)
            if bad:
                raise self.error(f"escaped character U+{ord(bad.group()):04X} is not allowed: the format "
                                 "refuses control characters, written raw or as an escape", event)
        tag = event.tag
        if tag is None and event.implicit[0]:       # a plain scalar: its meaning comes from its text
            if self._expecting_key() and event.value == "<<":
                self._set_key(_MERGE, event)
                return
            value = self._plain(event)
        elif tag in (None, "!"):                    # quoted, or the non-specific tag: a string
            value = event.value
        else:
            value = self._construct(tag, event)
        if self._expecting_key():
            self._set_key(value, event)
            return
        self._count(1, event)
        if event.anchor:
            self.anchors[event.anchor] = (value, 1)
        self._add(value, 1, event)

    def _plain(self, event: yaml.ScalarEvent) -> Any:
        text = event.value
        if text == "<<":
            raise self.error("`<<` (a YAML merge key) may only be used as a mapping key", event)
        try:
            return _plain(text)
        except ValueError:          # an integer of more digits than Python converts
            raise self.error(f"{_shown(text)} is not a valid !!int", event) from None

    def _construct(self, tag: str, event: yaml.ScalarEvent) -> Any:
        if tag not in _SCALAR_TAGS:
            raise self.error(f"unsupported YAML tag '{_short(tag)}': only plain values, lists and mappings", event)
        text = event.value
        try:
            if tag == f"{_TAG}str":
                return text
            if tag == f"{_TAG}timestamp":
                node = yaml.ScalarNode(tag, text, event.start_mark, event.end_mark, event.style)
                return _RESOLVER.construct_yaml_timestamp(node)
            value = _plain(text, as_written=False)
            if tag == f"{_TAG}float" and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            expected = {"int": int, "float": float, "bool": bool, "null": type(None)}[_short(tag)[2:]]
            if type(value) is expected:
                return value
        except (ValueError, TypeError, LookupError, AttributeError, ArithmeticError, yaml.YAMLError):
            pass
        raise self.error(f"{_shown(text)} is not a valid {_short(tag)}", event)

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


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _plain(text: str, as_written: bool = True) -> Any:
    """A plain scalar's value under the YAML 1.2 core schema. With `as_written`, a decimal
    integer that would not print back as written (``0123``, ``+44``) stays a string.
    Raises ValueError for an integer too long to convert."""
    if text in _NULLS:
        return None
    if text in _BOOLS:
        return _BOOLS[text]
    if text[0] not in _NUMERIC_START:
        return text
    if _INT.fullmatch(text):
        if text.startswith(("0o", "0x")):
            return int(text[2:], 8 if text[1] == "o" else 16)
        if as_written and not _AS_WRITTEN.fullmatch(text):
            return text
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text.replace(".inf", "inf").replace(".Inf", "inf").replace(".INF", "inf")
                     .replace(".nan", "nan").replace(".NaN", "nan").replace(".NAN", "nan"))
    return text


class _Constructor(yaml.SafeLoader):
    """Used only for its `!!timestamp` constructor, never on a stream."""

    def __init__(self) -> None:
        yaml.SafeLoader.__init__(self, "")


_Constructor.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                   list("tTfF"))


_RESOLVER = _Constructor()
