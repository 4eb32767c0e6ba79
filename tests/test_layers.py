"""The layers import one way: harness (core) ← compile ← gate ← subterra (the CLI).

Every import statement of every module counts, function-level and `TYPE_CHECKING` ones
included: a hidden import upwards is still a seam that runs both ways.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

LAYERS = ("harness", "compile", "gate", "subterra")     # each may import only those before it


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """(top-level package, line) of every absolute import in a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], node.lineno))
    return found


def upward_imports(layer: str) -> list[str]:
    above = set(LAYERS[LAYERS.index(layer) + 1:])
    return [f"{path.relative_to(ROOT)}:{line}: imports {package}"
            for path in sorted((ROOT / layer).rglob("*.py"))
            for package, line in sorted(imported_packages(path)) if package in above]


@pytest.mark.parametrize("layer", LAYERS[:-1])
def test_no_layer_imports_one_above_it(layer: str) -> None:
    assert upward_imports(layer) == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from gate.run import GateRun\n    import subterra.cli\n")
    assert imported_packages(module) == {("gate", 2), ("subterra", 3)}


def test_importing_the_pytest_plugin_loads_neither_langgraph_nor_scikit_learn() -> None:
    code = ("import sys, gate.plugin; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'langgraph', 'sklearn', 'torch', 'transformers'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
