"""pytest fixtures of the compile side: `compiled_model`.

`compiled_model` is session-scoped and parametrized (indirectly) by the gate plugin with
a procedure key. Compiling goes through the content-addressed store under a file lock,
so with xdist one worker compiles and the others wait and load the same checkpoint.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def compiled_model(request: pytest.FixtureRequest, gate_run):
    """The compiled model of one gate-suite procedure (a `compile.pipeline.CompiledModel`)."""
    return gate_run.compiled(request.param)     # its progress reaches the terminal (harness/plugin.py)
