"""How the command line reads: ``llmos "GOAL"`` means ``llmos run "GOAL"``, and help is tidy.

Two habits of the field that typer does not have on its own:

- A first argument that is neither a command nor an option of ``llmos``
  (nor ``help``, which shows the help of what follows it)
  itself starts a run (``llmos "Create hello.txt"``, ``llmos -p "…"``), as
  ``claude "…"`` does. A single word that looks like a mistyped command is an
  error that names the command, so a typo never becomes an LLM task.
- Help shows ``GOAL`` and ``--mode MODE``, not typer's ``{goal}``, ``<str>``
  and ``<bool>`` type labels on every parameter.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from typer.core import TyperArgument, TyperOption

from llmos.errors import ConfigError

#: Options of ``llmos`` itself (all flags): they stay in front of the command.
ROOT_OPTIONS = frozenset({"--version", "--debug", "-h", "--help"})
#: How alike a lone word and a command name must be to count as a typo of it.
TYPO_CUTOFF = 0.75


def route(args: Sequence[str], commands: Sequence[str]) -> list[str]:
    """``args`` with ``run`` put in front of a goal given without a command.

    Raises:
        ConfigError: a lone word that is close to a command's name (a usage error).

    Example:
        >>> route(["--debug", "Create a.txt"], ["run", "traces"])
        ['--debug', 'run', 'Create a.txt']
    """
    args = list(args)
    for at, arg in enumerate(args):
        if arg in ROOT_OPTIONS:
            continue
        if arg in commands:
            return args
        if arg == "help":  # `llmos help`, `llmos help traces list`: as git and go read it
            return [*args[:at], *args[at + 1 :], "--help"]
        if not arg.startswith("-") and not any(c.isspace() for c in arg):
            close = difflib.get_close_matches(arg, commands, n=1, cutoff=TYPO_CUTOFF)
            if close:
                raise ConfigError(
                    f"no command {arg!r}; did you mean `llmos {close[0]}`? "
                    f'To run it as a goal: llmos run "{arg}"'
                )
        return [*args[:at], "run", *args[at:]]
    return args


def _option_type(self: TyperOption, ctx: Any) -> str | None:
    """A flag shows no type; an option its metavar, else its name (``--mode MODE``)."""
    if self.is_flag or self.count:
        return ""
    if self.metavar is not None:
        return self.metavar
    return (self.name or "value").upper()


def _argument_type(self: TyperArgument, ctx: Any) -> str | None:
    """An argument's name says what it is; a type label beside it says nothing more."""
    return None


def _argument_name(self: TyperArgument) -> str:
    name = self.metavar or (self.name or "arg").upper()
    return name if self.metavar else name.replace("_", "-")


def _argument_usage(self: TyperArgument) -> str:
    """``GOAL``, ``[IDS]...``: click's own way, instead of typer's ``{goal}``."""
    name = _argument_name(self)
    if not self.required:
        name = f"[{name}]"
    return name + ("..." if self.nargs != 1 else "")


def tidy_help() -> None:
    """Make every command's help show names, not type labels (called once, at import).

    typer draws each parameter through these three methods, for the rich
    panels and the usage line alike; replacing them here covers every
    command, the ``--help`` option included, without a class per command.
    ``tests/cli/test_cli_help.py`` scans every ``--help`` for the old artefacts.
    """
    TyperOption.display_type_rich = _option_type  # type: ignore[method-assign]
    TyperArgument.display_type_rich = _argument_type  # type: ignore[method-assign,assignment]
    TyperArgument._usage_display_name = _argument_usage  # type: ignore[method-assign]
    TyperArgument.display_name_raw = property(_argument_name)  # type: ignore[assignment,method-assign]
