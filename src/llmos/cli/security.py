"""``llmos security check``: what the policy would decide about a command, without running it.

``llmos security sandbox`` says whether Bash runs inside bubblewrap here.

The command is judged as if run in the current directory when that is inside
the workspace, else in the workspace's ``output/`` folder (where tasks run
by default). Exit code 0 when every command is allowed, 1 when any is
denied or needs asking, 2 for usage errors.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console

from llmos.cli.common import (
    JsonOption,
    WorkspaceOption,
    settings_for,
    stderr_console,
    stdout_console,
)
from llmos.errors import ConfigError
from llmos.security import Verdict, judge_command
from llmos.tools.sandbox import sandbox_report

app = typer.Typer(help="Check commands against the security policy.", no_args_is_help=True)


def _render(console: Console, cmd: str, verdict: Verdict, *, as_json: bool, many: bool) -> None:
    if as_json:
        record = {
            "cmd": cmd,
            "decision": verdict.decision,
            "reason": verdict.reason,
            "command": verdict.command,
        }
        typer.echo(json.dumps(record, ensure_ascii=False))
        return
    shown = " ".join(cmd.split("\n"))
    head = f"{verdict.decision}: {shown}: " if many else f"{verdict.decision}: "
    trigger = f" [{' '.join(verdict.command.split(chr(10)))}]" if verdict.command else ""
    console.print(f"{head}{verdict.reason}{trigger}", markup=False, soft_wrap=True)


@app.command("check")
def check(
    command: Annotated[
        str,
        typer.Argument(
            help="The command line to judge, or - to read commands one per line from stdin.",
            show_default=False,
        ),
    ],
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print allow, deny or ask, the reason, and the simple command that decided it.

    Nothing is executed.
    """
    try:
        settings = settings_for(workspace)
    except ConfigError as exc:
        stderr_console().print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    root, cwd = settings.workspace, settings.cwd  # judged as a task working here would be
    many = command == "-"
    commands = (
        [line for line in sys.stdin.read().splitlines() if line.strip()] if many else [command]
    )
    if not commands:
        stderr_console().print(
            "error: no commands given; pass one, or `-` with commands on stdin", markup=False
        )
        raise typer.Exit(2)
    console = stdout_console()
    refused = False
    for cmd in commands:
        verdict = judge_command(cmd, cwd=cwd, workspace=root)
        refused = refused or verdict.decision != "allow"
        _render(console, cmd, verdict, as_json=as_json, many=many)
    raise typer.Exit(1 if refused else 0)


@app.command("sandbox")
def sandbox(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Whether Bash runs in the OS sandbox here, and how it is configured.

    Exit code 0 when Bash can run (sandboxed, or sandbox not required), 1 when
    ``tools.require_sandbox`` is set and the sandbox cannot be used.
    """
    try:
        settings = settings_for(workspace)
    except ConfigError as exc:
        stderr_console().print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    report = sandbox_report(settings)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        stdout_console().print(report.line(), markup=False, soft_wrap=True)
    raise typer.Exit(0 if report.bash_runs else 1)
