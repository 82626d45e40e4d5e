"""A simple command as the policy sees it: program, arguments, where it runs, what feeds it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from llmos.security.words import Arg


@dataclass(frozen=True, slots=True)
class Redirect:
    """``op`` is bashlex's type (``>``, ``>>``, ``<``, ``<<``, ``<<<``, ``>&`` …)."""

    op: str
    target: Arg | None
    fd: int | None = None
    heredoc: str | None = None


@dataclass(frozen=True, slots=True)
class SimpleCommand:
    """One program run with its arguments, as the policy judges it.

    ``args[0]`` is the program; ``name`` its normalised name (``/bin/rm`` →
    ``rm``), ``None`` when it cannot be known. ``upstream`` holds the earlier
    commands of the same pipeline (what feeds standard input), ``stdin_text``
    the here-doc or here-string. ``concurrent`` is true in the background or
    in a pipeline; ``wrapped_by`` names the wrappers it was unwrapped from.
    """

    args: tuple[Arg, ...]
    name: str | None
    text: str
    cwd: str | None
    redirects: tuple[Redirect, ...] = ()
    upstream: tuple[SimpleCommand, ...] = ()
    stdin_text: str | None = None
    concurrent: bool = False
    wrapped_by: tuple[str, ...] = ()
    assigns: tuple[str, ...] = ()

    @property
    def argv(self) -> list[str | None]:
        return [a.text for a in self.args]


def program_name(text: str | None) -> str | None:
    """``/usr/bin/python3.12`` → ``python3``; ``None`` stays unknown."""
    if text is None:
        return None
    name = text.rsplit("/", 1)[-1]
    return re.sub(r"^(python[23]?|pypy[23]?|perl|ruby|node|php|lua)[0-9.]+$", r"\1", name) or text
