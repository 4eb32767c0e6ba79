"""Conversations kept across compiles, so a recompile generates only what an edit touched.

Every generated conversation is filed in the store under a key made of exactly what its
generator requests read: the procedure's header, the nodes on its path together with the
nodes right after them (a turn's instruction names the edge it goes on by, and a hub's
turn is steered toward its target), the scenario (index, seed, path, variables,
persona), the generator and its sampling settings. An edit changes the key of precisely
the conversations whose path passes a changed node or a node right before one (the
`touched_nodes` of `harness.procedure.diff`); every other conversation of the earlier
version is taken from the pool instead of being generated again. Scenario sampling is
stable under an edit (`harness.procedure.paths.keyed_walk`), so those scenarios recur.

Layout under the store root::

    conversations/<key[:2]>/<key>.json      one conversation, written atomically
"""

from __future__ import annotations

import os
from pathlib import Path

from compile.store import fingerprint
from harness import __version__
from harness.procedure import Procedure
from harness.scenarios import Scenario
from harness.transcript import Conversation

__all__ = ["ConversationPool", "conversation_key"]


def conversation_key(procedure: Procedure, scenario: Scenario, generator: str, settings: dict,
                     instructions: str) -> str:
    """The content address of one generated conversation (see the module docstring).
    `settings`: the generator's sampling settings; `instructions`: its system prompt."""
    read = set(scenario.path)
    read |= {succ for nid in scenario.path for succ in procedure.successors(nid)}
    nodes = {nid: procedure.nodes[nid].model_dump(mode="json") for nid in sorted(read) if nid in procedure.nodes}
    return fingerprint(kind="conversation", header=procedure.model_dump(mode="json", exclude={"nodes"}),
                       nodes=nodes, scenario=scenario.model_dump(mode="json"), generator=generator,
                       settings=settings, instructions=instructions, version=__version__)


class ConversationPool:
    """Generated conversations by key, shared by every dataset built in one store."""

    def __init__(self, store_root: Path) -> None:
        self.root = Path(store_root) / "conversations"

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Conversation | None:
        path = self._path(key)
        if not path.is_file():
            return None
        return Conversation.model_validate_json(path.read_text(encoding="utf-8"))

    def put(self, key: str, conversation: Conversation) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(conversation.model_dump_json(), encoding="utf-8")
        tmp.replace(path)
