"""The one jinja2 environment for procedure templates: sandboxed, strict, and bounded.

Procedure files come from users, so a template may neither reach Python internals (the
jinja2 sandbox) nor hang or eat memory. `BoundedSandbox` adds, per render:

- a step budget and a deadline: every loop iteration, call, attribute, operator and
  concatenation is a step (`MAX_STEPS`, `MAX_SECONDS`);
- size limits: `range` and integer arguments to any call or filter at most `MAX_ARG`,
  string/list repetition, `%`/`format` widths, `**`, `~` and every result at most
  `MAX_OUTPUT` characters, and the rendered text too;
- at compile time: no `{% include %}`, `{% import %}`, `{% extends %}` or macros
  (templates are self-contained, and macros are the only way to recurse).

Loops and `~` are routed through the budget by rewriting the parsed template (the
sandbox's own hooks cover calls, attributes and the arithmetic operators). Every failure
is a one-line `TemplateFailure`.
"""

from __future__ import annotations

import contextvars
import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator
from functools import cache, lru_cache
from typing import Any

import jinja2
import jinja2.meta
from jinja2 import StrictUndefined, Template, nodes
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum

from harness.errors import SpecError

MAX_STEPS = 200_000
MAX_SECONDS = 2.0
MAX_ARG = 10_000
MAX_OUTPUT = 100_000

_REFUSED = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends, nodes.Macro, nodes.CallBlock)
_PERCENT_WIDTH = re.compile(r"%(?:\([^)]*\))?[-+ #0]*(\d*)(?:\.(\d*))?")
_FORMAT_WIDTH = re.compile(r"\{[^{}]*?(\d{5,})[^{}]*\}")


class TemplateFailure(SpecError):
    """A template that cannot be compiled or rendered; one line. Callers that know the file
    and node report it as `file:line: node 'x': …` (see `procedure.validate`)."""

    def __str__(self) -> str:       # the bare message: callers add where it is
        return self.message


class _Budget:
    def __init__(self) -> None:
        self.steps = MAX_STEPS
        self.deadline = time.monotonic() + MAX_SECONDS

    def tick(self) -> None:
        self.steps -= 1
        if self.steps < 0:
            raise TemplateFailure(f"template does too much work (over {MAX_STEPS:,} steps)")
        if time.monotonic() > self.deadline:
            raise TemplateFailure(f"template took longer than {MAX_SECONDS:g} s to render")


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("template_budget", default=None)


def _tick() -> None:
    budget = _budget.get()
    if budget is not None:
        budget.tick()


def _check_args(args: Iterable[Any]) -> None:
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_ARG:
            raise TemplateFailure(f"number {arg} is too large for a template (limit {MAX_ARG:,})")


def _check_size(value: Any) -> Any:
    if isinstance(value, (str, list, tuple, dict)) and len(value) > MAX_OUTPUT:
        raise TemplateFailure(f"template value longer than {MAX_OUTPUT:,} characters or items")
    return value


def _guarded(func: Callable) -> Callable:
    """A filter or global that counts as a step and keeps its arguments and result small."""
    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        _check_args(args)
        _check_args(kwargs.values())
        return _check_size(func(*args, **kwargs))
    return guarded


def _range(*args: int) -> Iterator[int]:
    _check_args(args)
    for i in range(*args):
        _tick()
        yield i


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002 - jinja's names
    if n > 20 or max > 200:
        raise TemplateFailure("lipsum is limited to 20 paragraphs of at most 200 words")
    return generate_lorem_ipsum(n, html, min, max)


class BoundedSandbox(SandboxedEnvironment):
    """`SandboxedEnvironment` with the time, size and tag limits described above."""

    intercepted_binops = frozenset({"*", "**", "%", "+", "//", "/", "-"})

    def __init__(self) -> None:
        # Strict: a typo'd variable is an error, not "".
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
        self.filters = {name: _guarded(f) for name, f in self.filters.items()}
        self.globals.update(range=_range, lipsum=_guarded(_lipsum))
        self.guard_iter = _guard_iter
        self.guard_concat = _guard_concat

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        refused = next(iter(tree.find_all(_REFUSED)), None)
        if refused is not None:
            tag = {"FromImport": "from … import", "CallBlock": "call", "Macro": "macro"}.get(
                type(refused).__name__, type(refused).__name__.lower())
            raise TemplateFailure(f"{{% {tag} %}} is not allowed: procedure templates are self-contained "
                                  "(no include, import, extends or macros)")
        for loop in tree.find_all(nodes.For):          # every iteration is a step
            loop.iter = nodes.Call(nodes.EnvironmentAttribute("guard_iter"), [loop.iter], [], None, None,
                                   lineno=loop.lineno)
        for concat in list(tree.find_all(nodes.Concat)):   # `~` checks the joined length first
            parts = nodes.Tuple(concat.nodes, "load", lineno=concat.lineno)
            call = nodes.Call(nodes.EnvironmentAttribute("guard_concat"), [parts], [], None, None,
                              lineno=concat.lineno)
            _replace(tree, concat, call)
        return tree

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - jinja's signature
        _tick()
        _check_args(args)
        _check_args(kwargs.values())
        return _check_size(super().call(__context, __obj, *args, **kwargs))

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > MAX_OUTPUT:
                    raise TemplateFailure(f"repetition longer than {MAX_OUTPUT:,} characters or items")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if right > 64 and abs(left) > 1 or abs(left).bit_length() * right > 4096:
                raise TemplateFailure(f"{left} ** {right} is too large for a template")
        elif operator == "%" and isinstance(left, str):
            widths = [int(w) for m in _PERCENT_WIDTH.finditer(left) for w in m.groups() if w]
            _check_args(widths)
            _check_args(right if isinstance(right, tuple) else (right,))
        elif operator == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            _check_size_sum(len(left) + len(right))
        return _check_size(super().call_binop(context, operator, left, right))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None and _FORMAT_WIDTH.search(value.__self__):
            raise TemplateFailure("format width too large for a template")
        return wrapped


def _check_size_sum(size: int) -> None:
    if size > MAX_OUTPUT:
        raise TemplateFailure(f"text longer than {MAX_OUTPUT:,} characters")


def _guard_iter(iterable: Any) -> Iterator[Any]:
    for item in iterable:
        _tick()
        yield item


def _guard_concat(parts: tuple) -> str:
    _tick()
    texts = [str(p) for p in parts]
    _check_size_sum(sum(map(len, texts)))
    return "".join(texts)


def _replace(tree: nodes.Node, old: nodes.Node, new: nodes.Node) -> None:
    """Put `new` where `old` is, in whichever field of its parent holds it."""
    for parent in [tree, *tree.find_all(nodes.Node)]:
        for field, value in parent.iter_fields():
            if value is old:
                setattr(parent, field, new)
                return
            if isinstance(value, list) and any(v is old for v in value):
                setattr(parent, field, [new if v is old else v for v in value])
                return


@cache
def template_env() -> BoundedSandbox:
    return BoundedSandbox()


def _one_line(e: BaseException) -> str:
    if isinstance(e, TemplateFailure):
        text = str(e)
    elif isinstance(e, jinja2.TemplateSyntaxError):
        text = f"template syntax error: {e.message}" + (f" (template line {e.lineno})" if e.lineno > 1 else "")
    elif isinstance(e, jinja2.exceptions.SecurityError):
        text = f"the template sandbox refused: {e}"
    elif isinstance(e, jinja2.UndefinedError):
        text = f"template error: {e.message}"
    elif isinstance(e, RecursionError):
        text = "template nested too deeply"
    else:
        text = f"template error: {type(e).__name__}: {e}"
    return " ".join(text.split())


# What a template can raise while compiling or rendering user input.
_FAILURES = (jinja2.TemplateError, TemplateFailure, ArithmeticError, LookupError, TypeError, ValueError,
             AttributeError, RecursionError)


@lru_cache(maxsize=4096)
def _compiled(template: str) -> Template | TemplateFailure:
    try:
        return template_env().from_string(template)
    except _FAILURES as e:
        return TemplateFailure(_one_line(e))


def compile_template(template: str) -> Template:
    """The compiled template; raises `TemplateFailure` (syntax, unknown filter, refused tag, or
    longer than a rendered text may be: it could never render, so it fails where it is written)."""
    if len(template) > MAX_OUTPUT:
        raise TemplateFailure(f"template is {len(template):,} characters long; a rendered text may be at most "
                              f"{MAX_OUTPUT:,}")
    compiled = _compiled(template)
    if isinstance(compiled, TemplateFailure):
        raise compiled
    return compiled


def template_names(template: str) -> set[str]:
    """The variables `template` reads from its context."""
    return set(_names(template))


@lru_cache(maxsize=4096)
def _names(template: str) -> frozenset[str]:
    # Parsed once per text: a suite of many entries asks for the same templates many times.
    compile_template(template)     # refuses what cannot compile before the parse below
    return frozenset(jinja2.meta.find_undeclared_variables(template_env().parse(template)))


def render(template: str, variables: dict[str, Any]) -> str:
    """Render within the budget; raises `TemplateFailure` (one line) on any failure."""
    compiled = compile_template(template)
    token = _budget.set(_Budget())
    try:
        out: list[str] = []
        size = 0
        for chunk in compiled.generate(variables):   # a dict, so a variable may be called `self`
            size += len(chunk)
            _check_size_sum(size)
            out.append(chunk)
        return "".join(out).strip()
    except _FAILURES as e:
        raise TemplateFailure(_one_line(e)) from None
    finally:
        _budget.reset(token)


_WHOLE_VARIABLE = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")


def render_value(value: Any, context: dict[str, Any]) -> Any:
    """A structured value (tool arguments, backend records) for a scenario: a string that is
    exactly `{{ name }}` gives the variable's own value (an integer stays an integer); other
    strings render as templates; lists and mappings render item by item; other literals stay."""
    if isinstance(value, str):
        whole = _WHOLE_VARIABLE.match(value.strip())
        if whole and whole.group(1) in context:
            return context[whole.group(1)]
        return render(value, context) if "{" in value else value
    if isinstance(value, list):
        return [render_value(v, context) for v in value]
    if isinstance(value, dict):
        return {k: render_value(v, context) for k, v in value.items()}
    return value
