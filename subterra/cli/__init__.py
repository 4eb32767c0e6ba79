"""`subterra` command line: thin commands over the library.

Commands live in sibling modules (one per area) and register with `@command`; this
module holds the registry and the entry point.

Input problems (broken YAML, invalid procedures) print one `file:line: message` line
each and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from rich.console import Console

from harness.errors import SpecError, SpecErrors

EXIT_INPUT_ERROR = 2
# No markup, emoji codes or highlighting: paths and messages print as written (a file
# named `a[/x].yaml` or an error on line 100, `…:100: …`, must not turn into markup or 💯).
console = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)

Command = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], Command], str]] = {}


def command(name: str, help: str) -> Callable:
    """Register a subcommand: the decorated function configures its parser and returns the runner."""
    def register(configure: Callable[[argparse.ArgumentParser], Command]) -> Callable:
        _COMMANDS[name] = (configure, help)
        return configure
    return register


# ---- entry point ------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """argparse, except that an argument starting with '-' that names an existing file, or
    looks like a file name ('.' or '/' in it; no option has one), is a file, unless it is one
    of the command's options: `subterra validate -x.yaml` reads the file. `--` and
    `./-x.yaml` work too, as with any command."""

    def _parse_optional(self, arg_string: str):  # type: ignore[no-untyped-def]  # argparse's one hook for this
        name = arg_string.split("=", 1)[0]
        if (arg_string.startswith("-") and arg_string not in ("-", "--")
                and not any(option.startswith(name) for option in self._option_string_actions)
                and (os.path.lexists(arg_string) or any(c in name for c in "./\\"))):
            return None          # a positional argument
        return super()._parse_optional(arg_string)


COMMAND_MODULES = ("procedures", "compile", "deploy", "conversations", "gate", "cost", "handling", "actions")


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Command]]:
    import importlib

    for module in COMMAND_MODULES:  # importing registers the module's commands
        importlib.import_module(f"subterra.cli.{module}")
    parser = _Parser(
        prog="subterra",
        description="Compile procedures into small-model weights and gate them in CI.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    runners: dict[str, Command] = {}
    for name, (configure, help_text) in _COMMANDS.items():
        runners[name] = configure(sub.add_parser(name, help=help_text, description=help_text))
    return parser, runners


def main(argv: Sequence[str] | None = None) -> int:
    parser, runners = build_parser()
    args = parser.parse_args(argv)
    try:
        return runners[args.command](args)
    except SpecErrors as e:
        for error in e.errors:
            err_console.print(f"error: {error}")
        return EXIT_INPUT_ERROR
    except SpecError as e:
        err_console.print(f"error: {e}")
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
