"""What ``llmos run`` reads and writes around a task: stdin, output formats, approvals.

- ``llmos run -`` (or no goal with a pipe) reads the goal from stdin; text
  piped *beside* a goal (``cat data.csv | llmos run "summarise this"``) is
  given to the task as context.
- ``--output-format text|json|stream-json`` (Claude Code's names): the answer,
  a single result object, or one event per line.
- An ``ask`` decision of the security policy asks the person when stdin and
  stderr are a terminal; elsewhere nobody can answer and it is denied.
"""

from __future__ import annotations

import os
import stat
import sys
from typing import Literal, TextIO, get_args

from rich.console import Console
from rich.markup import escape

from llmos.cli.render import HumanRenderer
from llmos.errors import ConfigError
from llmos.hooks.pipeline import AskHandler

OutputFormat = Literal["text", "json", "stream-json"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = get_args(OutputFormat)
#: The goal argument that means "read the goal from stdin".
STDIN_GOAL = "-"


def output_format(name: str | None, json_lines: bool) -> OutputFormat:
    """The format asked for; ``--json`` is ``stream-json``, kept for scripts that use it."""
    if name is None:
        return "stream-json" if json_lines else "text"
    for known in OUTPUT_FORMATS:
        if name == known:
            if json_lines and known != "stream-json":
                raise ConfigError(
                    f"--json means --output-format stream-json; it cannot go with {name}",
                    key="output_format",
                )
            return known
    raise ConfigError(
        f"--output-format {name!r} is not one of {', '.join(OUTPUT_FORMATS)}", key="output_format"
    )


def piped(stream: TextIO) -> bool:
    """Whether ``stream`` is a pipe or a file: something sent on purpose.

    A terminal is for typing and ``/dev/null`` (or a closed stdin) holds
    nothing; neither is read, so ``llmos run "goal"`` never waits for input.
    """
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode)


def goal_and_context(goal: str | None, stream: TextIO | None = None) -> tuple[str, str]:
    """The goal to run and the input given beside it ("" if none).

    ``-`` (or no goal) takes the goal from ``stream``; with a goal, piped text
    is context for it.
    """
    stream = sys.stdin if stream is None else stream
    sent = piped(stream)
    if goal is None or goal == STDIN_GOAL:
        if not sent:
            raise ConfigError(
                'say what to do: llmos run "Create hello.txt", or pipe the goal: '
                'echo "Create hello.txt" | llmos run -',
                key="goal",
            )
        return stream.read().strip(), ""
    return goal, stream.read() if sent else ""


def on_terminal() -> bool:
    """Whether a person can answer a question: stdin and stderr are a terminal."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def terminal_ask(renderer: HumanRenderer | None, err: Console) -> AskHandler:
    """An ``ask`` decision as a y/N question on the terminal, as the shell asks it."""

    async def ask(tool: str, reason: str) -> bool:
        if renderer is not None:
            renderer.pause()
        err.print(f"  [yellow]? {escape(tool)} needs approval:[/] {escape(reason)}")
        from llmos.cli.shell_input import confirm_on_terminal  # prompt_toolkit: only to ask

        try:
            return await confirm_on_terminal(f"  allow this {tool} call?", stderr=True)
        except (EOFError, KeyboardInterrupt):
            return False

    return ask


def denied_note(permission_mode: str, *, asked: bool, printing: bool = False) -> str:
    """Why an ``ask`` was denied, with the way to allow it, for the line that says so."""
    if permission_mode == "deny":
        return "permission mode deny: nothing is asked"
    if asked:
        return "you said no"
    where = "print mode asks nothing" if printing else "no terminal to ask"
    return f"{where}; --permission-mode accept approves such calls"
