"""User-facing errors about input files: every one names the file and line."""

from __future__ import annotations

import re
from pathlib import Path

# What one error line may show of any one part (file, node, message): an error quoting a
# 1 MB value must stay one readable line (the CLI promises lines under 2,000 characters).
MAX_FILE_SHOWN = 300
MAX_NODE_SHOWN = 100
MAX_MESSAGE_SHOWN = 1_200
# Characters that would break the line or the terminal: line breaks, other controls,
# surrogates (from undecodable file names). Shown as Python escapes instead.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def shown(text: str, limit: int) -> str:
    """`text` on one line and at most about `limit` characters: unprintable characters escaped
    (a newline in a file name cannot forge a second line), the middle of a long text cut."""
    text = _UNPRINTABLE.sub(lambda m: repr(m.group())[1:-1], text)
    if len(text) <= limit:
        return text
    head, tail = limit * 2 // 3, limit // 3
    return f"{text[:head]}…[{len(text) - head - tail:,} characters]…{text[-tail:]}"


class SpecError(Exception):
    """A problem in a procedure or scenario file, located precisely enough to fix it.

    `str(err)` is one line: ``file:line: [node 'x'] message``.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        node: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.node = node
        super().__init__(str(self))

    def __str__(self) -> str:
        file = shown(self.file, MAX_FILE_SHOWN) if self.file else ""
        where = file + (f":{self.line}" if self.line is not None and file else "")
        node = f"node '{shown(str(self.node), MAX_NODE_SHOWN)}': " if self.node else ""
        message = shown(self.message, MAX_MESSAGE_SHOWN)
        return f"{where}: {node}{message}" if where else f"{node}{message}"


class SpecErrors(SpecError):
    """Several independent problems found in one pass, each a `SpecError` (one line each)."""

    def __init__(self, errors: list[SpecError]) -> None:
        flat = [inner for e in errors for inner in (e.errors if isinstance(e, SpecErrors) else [e])]
        self.errors = sorted(flat, key=lambda e: (e.file or "", e.line or 0))
        first = self.errors[0] if self.errors else SpecError("invalid input")
        super().__init__(first.message, file=first.file, line=first.line, node=first.node)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)
