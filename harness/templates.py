"""The one jinja2 environment for procedure templates: sandboxed, strict about undefined names."""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template
from jinja2.sandbox import SandboxedEnvironment


@cache
def template_env() -> SandboxedEnvironment:
    # Sandboxed: procedure files come from users; strict: a typo'd variable is an error, not "".
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


@lru_cache(maxsize=4096)
def _compiled(template: str) -> Template:
    return template_env().from_string(template)


def render(template: str, variables: dict[str, Any]) -> str:
    return _compiled(template).render(**variables).strip()
