"""The one jinja2 environment for procedure templates: sandboxed, strict about undefined names."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment


@cache
def template_env() -> SandboxedEnvironment:
    # Sandboxed: procedure files come from users; strict: a typo'd variable is an error, not "".
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


def render(template: str, variables: dict[str, Any]) -> str:
    return template_env().from_string(template).render(**variables).strip()
