"""The scripted backend tool steps act on: declared state, tool behaviour, per-scenario copies.

`spec` is what a scenario set declares (tables of records, how each tool behaves), `state`
executes calls against one conversation's copy, `arrange` draws each scenario's state so that
its path's tool results follow from it, and replays the path for the end state it implies.
"""

from harness.backend.arrange import Replay, arrange_backend, replay_path
from harness.backend.spec import BackendSpec, ToolBehaviour
from harness.backend.state import Backend, ToolFailure, error_result, result_name

__all__ = [
    "Backend",
    "BackendSpec",
    "Replay",
    "ToolBehaviour",
    "ToolFailure",
    "arrange_backend",
    "error_result",
    "replay_path",
    "result_name",
]
