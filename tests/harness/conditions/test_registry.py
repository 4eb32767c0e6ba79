"""The conditions' facts, read from their classes through the lazy registry."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.conditions import CONDITIONS, condition_class, model_role, reference_condition
from tests.conftest import ROOT


@pytest.mark.parametrize("name", CONDITIONS)
def test_each_registered_class_carries_its_name_and_every_fact(name: str) -> None:
    cls = condition_class(name)
    assert cls.name == name
    assert cls.model_role in ("compiled", "base", "frontier")
    assert isinstance(cls.reusable_after_edit, bool) and isinstance(cls.is_reference, bool)
    assert cls.description
    # Only the compiled model has no default (it comes from the store).
    assert (cls.default_model is None) == (cls.model_role == "compiled")


def test_the_paper_s_facts() -> None:
    assert reference_condition() == "subterranean"
    assert [model_role(c) for c in CONDITIONS] == ["compiled", "base", "frontier", "frontier"]
    assert [c for c in CONDITIONS if condition_class(c).reusable_after_edit] == ["orchestrated", "langgraph"]


def test_an_unknown_condition_says_which_exist() -> None:
    with pytest.raises(ValueError, match="unknown condition 'telepathy'; expected one of subterranean"):
        condition_class("telepathy")


def test_reading_every_condition_s_facts_loads_neither_langgraph_nor_langsmith() -> None:
    code = ("import sys; from harness.conditions import CONDITIONS, condition_class; "
            "[condition_class(c).reusable_after_edit for c in CONDITIONS]; "
            "print('langgraph' in sys.modules, 'langsmith' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False"]
