"""User-facing errors about input files: every one names the file and line."""

from __future__ import annotations

from pathlib import Path


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
        where = (self.file or "") + (f":{self.line}" if self.line is not None and self.file else "")
        node = f"node '{self.node}': " if self.node else ""
        return f"{where}: {node}{self.message}" if where else f"{node}{self.message}"


class SpecErrors(SpecError):
    """Several independent problems found in one pass, each a `SpecError` (one line each)."""

    def __init__(self, errors: list[SpecError]) -> None:
        flat = [inner for e in errors for inner in (e.errors if isinstance(e, SpecErrors) else [e])]
        self.errors = sorted(flat, key=lambda e: (e.file or "", e.line or 0))
        first = self.errors[0] if self.errors else SpecError("invalid input")
        super().__init__(first.message, file=first.file, line=first.line, node=first.node)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)
