"""Sub-commands whose modules are imported only when one runs or help lists them.

A followed ``llmos run`` should not pay for the server, MCP, the scheduler's
cron parser or the trace tables: each such command is named here with its
help, and :class:`LazyGroup` imports its module the first time click asks
for it (dispatch, or ``llmos --help``, which lists them all).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from typer._click import Command, Context  # typer's own click, as TyperGroup uses


@dataclass(frozen=True, slots=True)
class LazyCommand:
    """``target`` is ``"module:attribute"``: a typer app (``group``) or a command function."""

    name: str
    target: str
    help: str
    group: bool = False

    def load(self) -> Command:
        """The click command typer builds for it, as ``add_typer``/``command`` would."""
        module, _, attribute = self.target.partition(":")
        value = getattr(importlib.import_module(module), attribute)
        holder = typer.Typer()
        if self.group:
            holder.add_typer(value, name=self.name, help=self.help)
        else:
            holder.command(self.name, help=self.help)(value)
        return typer.main.get_group(holder).commands[self.name]


class LazyGroup(TyperGroup):
    """A typer group that also offers :attr:`lazy` commands, loaded on first use."""

    lazy: ClassVar[dict[str, LazyCommand]] = {}

    def list_commands(self, ctx: Context) -> list[str]:
        eager = super().list_commands(ctx)
        return [*eager, *(name for name in self.lazy if name not in eager)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self.lazy:
            command = self.lazy[cmd_name].load()
            self.commands[cmd_name] = command
        return command


def lazy_group(commands: Sequence[LazyCommand]) -> type[TyperGroup]:
    """The group class to pass as ``typer.Typer(cls=...)`` for these lazy commands."""
    return type(
        "LazyGroup", (LazyGroup,), {"lazy": {command.name: command for command in commands}}
    )
