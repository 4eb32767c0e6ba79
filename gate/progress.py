"""Progress of long gate work on stderr: lines for logs, a bar for terminals. The plugin
lets both past pytest's capture."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def say(line: str) -> None:
    """A progress line (CI logs have no bar)."""
    print(f"subterra: {line}", file=sys.stderr, flush=True)


@contextmanager
def conversation_bar(label: str, total: int, *, show: bool) -> Iterator[Callable[[], None]]:
    """A bar over `total` conversations; yields the function that advances it by one."""
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), disable=not show) as bar:
        task = bar.add_task("conversations", total=total)
        yield lambda: bar.advance(task)
