"""The ``llmos`` commands: parse, build settings, call the API, render events.

Loaded by :func:`llmos.cli.app.main` (the entry point) for everything but
``--version``. Exit codes are mapped in one place, :func:`main`: 0 success,
1 the task failed, 2 usage or configuration error. Only what ``run`` needs is
imported here; the other groups load through :mod:`llmos.cli.lazy`.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from llmos import __version__
from llmos.api import LLMOS
from llmos.cli.commandline import route, tidy_help
from llmos.cli.common import (
    CwdOption,
    JsonOption,
    ModelOption,
    ProjectOption,
    ProviderOption,
    ScriptOption,
    WorkspaceOption,
    change_directory,
    settings_for,
    stderr_console,
    stdout_console,
)
from llmos.cli.lazy import LazyCommand, lazy_group
from llmos.cli.render import (
    HumanRenderer,
    JsonRenderer,
    print_match,
    report_outcome,
    report_untrusted,
    result_json,
)
from llmos.cli.run_io import (
    denied_note,
    goal_and_context,
    on_terminal,
    output_format,
    terminal_ask,
)
from llmos.cli.signals import Termination, cancel_on_termination
from llmos.config import MODES, PERMISSION_MODES
from llmos.errors import ConfigError, LLMOSError
from llmos.text import unicode_problem

if TYPE_CHECKING:
    from llmos.memory import MatchResult
    from llmos.runtime.task import TaskResult

#: Sub-command groups that live in their own modules, imported when used.
LAZY_COMMANDS = (
    LazyCommand(
        "daemon", "llmos.cli.daemon:daemon_command", "Run recurring tasks when they are due."
    ),
    LazyCommand(
        "serve",
        "llmos.cli.serve:serve_command",
        "Serve the HTTP API (/docs) and the dashboard (/).",
    ),
    LazyCommand("resume", "llmos.cli.resume:resume", "Continue an interrupted orchestration."),
    LazyCommand(
        "log", "llmos.cli.log:log_command", "Past tasks and their events (the session log)."
    ),
    LazyCommand("tools", "llmos.cli.tools:tools_command", "Every tool the model can be offered."),
    LazyCommand(
        "models", "llmos.cli.models:models_command", "The models each provider can use here."
    ),
    LazyCommand(
        "mcp", "llmos.cli.mcp:mcp_command", "Serve llmos over MCP stdio (run_task, match_trace, …)."
    ),
    LazyCommand(
        "config",
        "llmos.cli.settings_cmd:config_command",
        "The effective settings and where each came from.",
    ),
    LazyCommand(
        "traces", "llmos.cli.traces:app", "Saved traces: list, show, match, verify …", True
    ),
    LazyCommand("agents", "llmos.cli.agents:app", "Markdown agents: list, show, new, rm.", True),
    LazyCommand("projects", "llmos.cli.projects:app", "Projects: new, list, use, show, rm.", True),
    LazyCommand("budget", "llmos.cli.budget:app", "Spending, savings and the budget.", True),
    LazyCommand("memory", "llmos.cli.memory:app", "Facts llmos remembers and injects.", True),
    LazyCommand("security", "llmos.cli.security:app", "Check commands against the policy.", True),
    LazyCommand("schedule", "llmos.cli.schedule:app", "Recurring tasks: add, list, rm.", True),
)

app = typer.Typer(
    name="llmos",
    help="An operating system for LLM agents: learn a task once, replay it for free.\n\n"
    'llmos "GOAL" runs a goal (short for llmos run "GOAL"); llmos help COMMAND explains one.',
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    cls=lazy_group(LAZY_COMMANDS),
)

ModeOption = Annotated[
    str | None,
    typer.Option("--mode", help=f"One of {', '.join(MODES)} (default: auto).", show_default=False),
]
BaseUrlOption = Annotated[
    str | None, typer.Option("--base-url", help="Server URL for the openai provider.")
]


def _version(value: bool) -> None:
    if value:
        print(f"llmos {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    cwd: CwdOption = None,
) -> None:
    if debug:
        os.environ["LLMOS_DEBUG"] = "1"
    change_directory(cwd)


OutputFormatOption = Annotated[
    str | None,
    typer.Option(
        "--output-format",
        metavar="FORMAT",
        help="text (the answer), json (one result object) or stream-json (one event per line).",
        show_default=False,
    ),
]
PermissionModeOption = Annotated[
    str | None,
    typer.Option(
        "--permission-mode",
        metavar="MODE",
        help="When a tool call needs approval: default (ask on a terminal, else deny), "
        "deny, or accept.",
        show_default=False,
    ),
]


@app.command()
def run(
    words: Annotated[
        list[str] | None,
        typer.Argument(
            help='What to do, in plain words (quotes optional); "-" reads it from stdin.',
            metavar="GOAL",
            show_default=False,
        ),
    ] = None,
    print_mode: Annotated[
        bool,
        typer.Option("--print", "-p", help="Print mode: only the answer, and ask nothing."),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the answer.")] = False,
    output: OutputFormatOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Same as --output-format stream-json.")
    ] = False,
    mode: ModeOption = None,
    provider: ProviderOption = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    script: ScriptOption = None,
    cwd: CwdOption = None,
    workspace: WorkspaceOption = None,
    project: ProjectOption = None,
    permission_mode: PermissionModeOption = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Show the mode, trace and steps; run nothing."),
    ] = False,
) -> None:
    """Run one task: follow a saved trace if one matches, else learn it with the LLM.

    Text piped beside a goal is given to the task as context
    (cat data.csv | llmos run "summarise this"). The answer goes to stdout,
    everything else to stderr.
    """
    fmt = output_format(output, json_output)
    if mode is not None and mode not in MODES:
        raise ConfigError(f"--mode {mode!r} is not one of {', '.join(MODES)}", key="mode")
    if permission_mode is not None and permission_mode not in PERMISSION_MODES:
        raise ConfigError(
            f"--permission-mode {permission_mode!r} is not one of {', '.join(PERMISSION_MODES)}",
            key="security.permission_mode",
        )
    goal, context = goal_and_context(" ".join(words) if words else None)
    if not goal.strip():
        raise ConfigError('the goal is empty; say what to do, e.g. llmos run "Create hello.txt"')
    if (problem := unicode_problem(goal, "the goal")) is not None:
        raise ConfigError(problem, key="goal")
    change_directory(cwd)
    settings = settings_for(
        workspace,
        mode=mode,
        provider=provider,
        model=model,
        base_url=base_url,
        script=script,
        project=project,
        **{"security.permission_mode": permission_mode},
    )
    err = stderr_console()
    if dry_run:
        llmos = LLMOS(settings=settings)
        found = asyncio.run(_match(llmos, goal))
        if context:
            err.print("input was given beside the goal: a run would learn it, not follow a trace")
        if fmt != "text":
            print(json.dumps(found.to_json(), ensure_ascii=False))
        else:
            print_match(stdout_console(), found)
            report_untrusted(err, found)
        return
    renderer = None
    if fmt != "stream-json":
        answer = stdout_console() if fmt == "text" else None
        quiet = quiet or print_mode
        renderer = HumanRenderer(answer, err=err, progress=err, quiet=quiet, explain=False)
    asks = on_terminal() and not print_mode and settings.security.permission_mode == "default"
    llmos = LLMOS(settings=settings, ask=terminal_ask(renderer, err) if asks else None)
    if renderer is None:
        llmos.subscribe(JsonRenderer())
    else:
        renderer.ask_note = denied_note(
            settings.security.permission_mode, asked=asks, printing=print_mode
        )
        llmos.subscribe(renderer)
    result = asyncio.run(_execute(llmos, goal, context))
    if isinstance(result, Termination):
        err.print(f"stopped by {result.name}; the run was cancelled and recorded")
        raise typer.Exit(result.exit_code)
    if fmt == "json":
        print(json.dumps(result_json(result), ensure_ascii=False))
    report_outcome(err, result, settings)
    if result.failed:
        raise typer.Exit(1)


async def _match(llmos: LLMOS, goal: str) -> MatchResult:
    async with llmos:
        return await llmos.match(goal)


async def _execute(llmos: LLMOS, goal: str, context: str = "") -> TaskResult | Termination:
    """The task's result, or the signal that ended it (after the run was cancelled cleanly)."""
    with cancel_on_termination() as stopped:
        try:
            async with llmos:
                return await llmos.execute(goal, context=context)
        except asyncio.CancelledError:
            if stopped.signum is None:
                raise
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            return stopped


@app.command()
def providers(workspace: WorkspaceOption = None, json_output: JsonOption = False) -> None:
    """List the LLM backends, whether each can be used here, and which is selected."""
    from llmos.backends.factory import provider_report  # the backends: only for this listing

    rows = provider_report(settings_for(workspace))
    if json_output:
        for row in rows:
            print(
                json.dumps(
                    {
                        "name": row.name,
                        "available": row.available,
                        "model": row.model,
                        "detail": row.detail,
                    }
                )
            )
        return
    console = stdout_console()
    for row in rows:
        mark = "[green]●[/]" if row.available else "[dim]○[/]"
        model = f" · {escape(row.model)}" if row.model else ""
        console.print(f"{mark} [bold]{row.name}[/]{model} — {escape(row.detail)}")
    from llmos.tools.sandbox import sandbox_report  # probes bwrap: only for the human listing

    console.print(sandbox_report(settings_for(workspace)).line(), markup=False, soft_wrap=True)


@app.command()
def shell(
    workspace: WorkspaceOption = None,
    provider: ProviderOption = None,
    model: ModelOption = None,
    script: ScriptOption = None,
    project: ProjectOption = None,
) -> None:
    """Interactive prompt: type goals, /help for commands, Ctrl-D to leave."""
    settings = settings_for(
        workspace, provider=provider, model=model, script=script, project=project
    )
    from llmos.cli.shell import run_shell  # prompt_toolkit is only loaded for the shell

    raise typer.Exit(run_shell(settings, stdout_console()))


app.command("interactive", help="Same as `llmos shell`.")(shell)


tidy_help()


def command_names() -> list[str]:
    """Every command and group of ``llmos`` (what a first argument may name)."""
    names = [c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands]
    names += [g.name for g in app.registered_groups if g.name]
    return [*names, *(lazy.name for lazy in LAZY_COMMANDS)]


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code instead of exiting, so tests can call it.

    Typer handles usage errors itself (exit 2); llmos errors are printed as one
    line (a traceback only with ``--debug``) and mapped to their exit codes.
    """
    args = sys.argv[1:] if argv is None else argv
    debug = os.environ.get("LLMOS_DEBUG") == "1" or "--debug" in args
    err = stderr_console()
    try:
        args = route(args, command_names())
        app(args=args, prog_name="llmos")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except LLMOSError as exc:
        if debug:
            raise
        err.print(f"[red]error:[/] {escape(str(exc))}")
        return 2 if isinstance(exc, ConfigError) else 1
    except OSError as exc:  # the file system said no: a read-only folder, a file in the way
        if debug:
            raise
        err.print(f"[red]error:[/] {escape(file_system_problem(exc))}")
        return 1
    return 0


def file_system_problem(exc: OSError) -> str:
    """One line for a file-system error, naming the path and what to check."""
    where = f" {exc.filename}" if exc.filename else ""
    reason = exc.strerror or str(exc)
    hint = {
        errno.EROFS: "the folder is read-only; run llmos where it may write, or set LLMOS_HOME",
        errno.EACCES: "permission denied; check the folder's owner and mode, or set LLMOS_HOME",
        errno.ENOSPC: "the disk is full; free some space",
        errno.ENOTDIR: "a file is in the way of a folder",
        errno.EEXIST: "a file is in the way",
    }.get(exc.errno or 0, "")
    return f"cannot use{where}: {reason}" + (f" ({hint})" if hint else "")
