"""Every command's ``--help`` reads like a well-kept CLI: names, not typer's type labels."""

from __future__ import annotations

import io
import re
from contextlib import redirect_stdout
from typing import Any

import pytest
import typer

from llmos.cli.app import app, main

#: What typer's help showed before: ``<str>``/``<bool>`` labels, ``{goal}`` in the
#: usage line, and `` .`` where a ``[default: …]`` in a help text was eaten as markup.
ARTEFACTS = re.compile(r"<\w+>|\{\w+\}|\S \.(?=\s|$)")


def _paths(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command below ``command`` (a group of typer's click), lazy groups loaded as
    ``--help`` loads them."""
    found = [path]
    if hasattr(command, "list_commands"):
        ctx = typer.Context(command)
        for name in sorted(command.list_commands(ctx)):
            sub = command.get_command(ctx, name)
            if sub is not None:
                found.extend(_paths(sub, (*path, name)))
    return found


COMMANDS = _paths(typer.main.get_command(app))


def _help(*path: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main([*path, "--help"]) == 0
    return out.getvalue()


def test_every_command_is_scanned() -> None:
    assert ("run",) in COMMANDS and ("traces", "list") in COMMANDS and ("config",) in COMMANDS
    assert len(COMMANDS) > 40


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "llmos")
def test_help_has_no_type_labels_braces_or_stray_spaces(path: tuple[str, ...]) -> None:
    text = _help(*path)
    assert "Usage: llmos" in text
    assert ARTEFACTS.findall(text) == [], text


def test_run_help_names_its_goal_and_values() -> None:
    text = _help("run")
    assert "Usage: llmos run [OPTIONS] [GOAL]..." in text
    assert re.search(r"--mode\s+MODE\s", text) and re.search(r"--script\s+FILE\s", text)
    assert re.search(r"--print\s+-p\s", text)  # -p is print mode, as in Claude Code
    assert "(default: auto)" in text


def test_help_word_shows_the_help_of_what_follows() -> None:
    assert _help("schedule", "add") == _help_via_word("schedule", "add")


def _help_via_word(*path: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["help", *path]) == 0
    return out.getvalue()
