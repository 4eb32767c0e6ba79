"""The recompile gate as tests (`gate/suite_tests.py`), parametrized by the subterra plugin
from the `*.gate.yaml` files beside this one: `pytest test_suites` runs the gate."""

from gate.suite_tests import test_conversation, test_threshold

__all__ = ["test_conversation", "test_threshold"]
