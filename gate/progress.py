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
    """A bar over `total` conversations; yields the function that advances it by one.
    Conditions that run at the same time get a line each in one live display (a terminal
    shows one at a time)."""
    if not show:
        yield lambda: None
        return
    global _live, _users
    if _live is None:
        _live = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                         console=Console(stderr=True))
        _live.start()
    bar, _users = _live, _users + 1
    task = bar.add_task(label, total=total)
    try:
        yield lambda: bar.advance(task)
    finally:
        _users -= 1
        if _users == 0:
            bar.stop()
            _live = None


_live: Progress | None = None      # the display the running conditions share
_users = 0
