"""The shell's slash commands: one table, one handler each, "did you mean" for typos."""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from llmos.agents import AgentLibrary
from llmos.backends.factory import DEFAULT_MODELS, provider_report, select_provider
from llmos.cli.budget import budget_line
from llmos.cli.render import print_match, report_untrusted
from llmos.cli.shell_input import HISTORY_FILE, read_history
from llmos.config import MODES, PROVIDERS, Settings
from llmos.economy import DEFAULT_PRICES, format_usd
from llmos.errors import ConfigError

if TYPE_CHECKING:
    from llmos.cli.shell import Shell

HISTORY_SHOWN = 20
TRACES_SHOWN = 20
SIMILAR_SHOWN = 10
NO_PROJECT = "none"

Handler = Callable[["Shell", str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Command:
    """A slash command: how it is written, what it does, its handler."""

    name: str
    usage: str
    summary: str
    handler: Handler


class CommandError(ConfigError):
    """A slash command was misused; the message says how to use it."""


def _words(argument: str) -> list[str]:
    return argument.split()


def _did_you_mean(value: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, list(options), n=1, cutoff=0.5)
    return f"; did you mean {close[0]}?" if close else ""


Choice = TypeVar("Choice", bound=str)


def _one_of(value: str, choices: Iterable[Choice], what: str) -> Choice:
    """The choice ``value`` names, else an error with a suggestion."""
    options = list(choices)
    for option in options:
        if option == value:
            return option
    hint = _did_you_mean(value, options)
    raise CommandError(f"{what} {value!r} is not one of {', '.join(options)}{hint}", key=what)


# ------------------------------------------------------------------ handlers


async def _help(shell: Shell, argument: str) -> None:
    width = max(len(command.usage) for command in COMMANDS)
    shell.console.print("Type a goal to run it, or a command:")
    for command in COMMANDS:
        shell.console.print(f"  {escape(command.usage.ljust(width))}  {command.summary}")
    shell.console.print(
        "Keys: Tab completes · Up/Down walk the history · a line ending in \\ continues, "
        "Esc-Enter (Alt-Enter) adds a newline · Ctrl-C cancels the running task · "
        "Ctrl-D leaves"
    )


async def _mode(shell: Shell, argument: str) -> None:
    words = _words(argument)
    if words:
        shell.mode = _one_of(words[0], MODES, "mode")
    shell.console.print(f"mode [bold]{shell.mode}[/] [dim](one of {', '.join(MODES)})[/]")


async def _budget(shell: Shell, argument: str) -> None:
    report = await asyncio.to_thread(shell.llmos.budget().report)
    shell.console.print(budget_line(report))
    shell.console.print("[dim]`llmos budget` shows it by day, mode and model[/]")


async def _traces(shell: Shell, argument: str) -> None:
    library = shell.llmos.traces()
    query = argument.strip()
    if query:
        near = await asyncio.to_thread(
            library.similar, query, include_failed=True, limit=SIMILAR_SHOWN
        )
        if not near:
            shell.console.print(f"no trace is near {escape(query)!r}")
            return
        table = Table("score", "id", "status", "goal", box=None, pad_edge=False)
        for found in near:
            trace = found.trace
            table.add_row(
                f"{found.score:.2f}", trace.id, trace.status, escape(" ".join(trace.goal.split()))
            )
        shell.console.print(table)
        return
    entries = await asyncio.to_thread(library.entries)
    if not entries:
        shell.console.print("no traces yet; run a goal to learn one")
        return
    table = Table("id", "status", "uses", "saved", "goal", box=None, pad_edge=False)
    for entry in entries[-TRACES_SHOWN:]:
        table.add_row(
            entry.id,
            entry.status,
            str(entry.use_count),
            format_usd(entry.saved_usd),
            escape(" ".join(entry.goal.split())),
        )
    shell.console.print(table)
    if len(entries) > TRACES_SHOWN:
        shell.console.print(
            f"[dim]{len(entries) - TRACES_SHOWN} older traces; `llmos traces list` shows all[/]"
        )


def _agent_library(shell: Shell) -> AgentLibrary:
    project_agents = shell.project.agents if shell.project else None
    return AgentLibrary.for_folders(project_agents, shell.workspace.agents)


async def _agents(shell: Shell, argument: str) -> None:
    library = _agent_library(shell)
    words = _words(argument)
    if words:
        agent = await asyncio.to_thread(library.get, words[0])
        tools = ", ".join(agent.tools) if agent.tools is not None else "all"
        shell.console.print(f"[bold]{escape(agent.name)}[/] [dim]({agent.source})[/]")
        shell.console.print(f"  {escape(agent.description)}")
        shell.console.print(f"  tools {escape(tools)} · model {escape(agent.model)}")
        if agent.path is not None:
            shell.console.print(f"  [dim]{escape(str(agent.path))}[/]")
        return
    agents = await asyncio.to_thread(library.agents)
    table = Table("name", "from", "description", box=None, pad_edge=False)
    for agent in agents:
        table.add_row(escape(agent.name), agent.source, escape(agent.description))
    shell.console.print(table)
    for problem in library.problems:
        shell.console.print(f"[yellow]skipped[/] {escape(str(problem.path))}: {problem.message}")


async def _project(shell: Shell, argument: str) -> None:
    """Like ``llmos projects use``: the choice is remembered in the workspace."""
    words = _words(argument)
    if words:
        name = None if words[0] == NO_PROJECT else shell.projects.get(words[0]).name
        changed = _revalidated(shell.settings, project=name)
        before = shell.projects.current()
        await asyncio.to_thread(shell.projects.use, name)  # first: no name means the current
        try:
            await shell.switch(changed)
        except BaseException:
            await asyncio.to_thread(shell.projects.use, before.name if before else None)
            raise
    project = shell.project
    here = escape(str(shell.settings.cwd))
    if project is not None:
        shell.console.print(f"project [bold]{escape(project.name)}[/]: goals work in {here}")
    else:
        shell.console.print(f"no project: goals work in {here}")
    if not words:
        names = [project.name for project in shell.projects.list()]
        shell.console.print(
            f"[dim]projects: {escape(', '.join(names) or 'none')}; "
            f"/project NAME switches, /project {NO_PROJECT} leaves[/]"
        )


def _revalidated(settings: Settings, **changes: object) -> Settings:
    """``settings`` with ``changes``, validated like any other settings."""
    try:
        return Settings.model_validate(settings.model_dump() | changes)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise CommandError(f"{key}: {first['msg']}", key=key) from exc


def _provider_model(shell: Shell) -> tuple[str, str]:
    """The provider in use and its model (the backend's own name once it is built)."""
    provider, _ = select_provider(shell.settings)
    model = shell.llmos.backend_model()
    if model is not None:
        return provider, model
    return provider, shell.settings.model or DEFAULT_MODELS.get(provider, "its default")


async def _provider(shell: Shell, argument: str) -> None:
    words = _words(argument)
    if not words:
        current, _ = select_provider(shell.settings)
        for row in await asyncio.to_thread(provider_report, shell.settings):
            mark = "[green]●[/]" if row.available else "[dim]○[/]"
            chosen = " [bold](in use)[/]" if row.name == current else ""
            shell.console.print(f"{mark} {row.name}{chosen} — {escape(row.detail)}")
        return
    name = _one_of(words[0], PROVIDERS, "provider")
    wanted = _revalidated(shell.settings, provider=name, model=None)
    row = next(r for r in await asyncio.to_thread(provider_report, wanted) if r.name == name)
    if not row.available:
        raise CommandError(f"provider {name} cannot be used here: {row.detail}", key="provider")
    await shell.switch(wanted)
    provider, model = _provider_model(shell)
    shell.console.print(f"provider [bold]{provider}[/] · model {escape(model)}")


async def _model(shell: Shell, argument: str) -> None:
    words = _words(argument)
    if words:
        await shell.switch(_revalidated(shell.settings, model=words[0]))
    provider, model = _provider_model(shell)
    shell.console.print(f"provider [bold]{provider}[/] · model {escape(model)}")


async def _dry_run(shell: Shell, argument: str) -> None:
    goal = argument.strip()
    if not goal:
        raise CommandError("usage: /dry-run GOAL (shows what would run; runs nothing)")
    found = await shell.llmos.match(goal)
    print_match(shell.console, found)
    report_untrusted(shell.console, found)


async def _history(shell: Shell, argument: str) -> None:
    words = _words(argument)
    try:
        count = int(words[0]) if words else HISTORY_SHOWN
    except ValueError:
        count = -1
    if count < 1:
        raise CommandError(f"usage: /history [N], N a whole number >= 1 (got {argument!r})")
    entries = await asyncio.to_thread(read_history, shell.workspace.root / HISTORY_FILE)
    first = max(len(entries) - count, 0)
    for number, entry in enumerate(entries[first:], start=first + 1):
        lines = entry.splitlines() or [""]
        shell.console.print(f"[dim]{number:>4}[/]  {escape(lines[0])}")
        for line in lines[1:]:
            shell.console.print(f"      {escape(line)}")
    if not entries:
        shell.console.print("no history yet")


async def _reject(shell: Shell, argument: str) -> None:
    trace_id, _, reason = argument.strip().partition(" ")
    if not trace_id or not reason.strip():
        raise CommandError("usage: /reject TRACE_ID REASON (what was wrong)", key="reject")
    library = shell.llmos.traces()
    trace = await asyncio.to_thread(library.reject, trace_id, reason)
    shell.console.print(f"rejected {trace.id}: it is kept as advice and never replayed")


async def _exit(shell: Shell, argument: str) -> None:
    shell.running = False


COMMANDS: tuple[Command, ...] = (
    Command("/help", "/help", "this text", _help),
    Command("/mode", "/mode " + "|".join(MODES), "how goals run (auto picks)", _mode),
    Command("/budget", "/budget", "spent, left and saved", _budget),
    Command("/traces", "/traces [QUERY]", "saved traces, or those near QUERY", _traces),
    Command("/agents", "/agents [NAME]", "the agents, or one agent", _agents),
    Command("/project", "/project [NAME|none]", "work in a project from now on", _project),
    Command("/provider", "/provider [NAME]", "the LLM backends, or switch", _provider),
    Command("/model", "/model [NAME]", "the model, or switch", _model),
    Command("/reject", "/reject ID REASON", "a trace's result was wrong: never replay it", _reject),
    Command("/dry-run", "/dry-run GOAL", "what GOAL would do; runs nothing", _dry_run),
    Command("/history", "/history [N]", "the last N entries", _history),
    Command("/exit", "/exit", "leave (or Ctrl-D)", _exit),
)
ALIASES = {"/quit": "/exit", "/?": "/help"}
_BY_NAME = {command.name: command for command in COMMANDS}


def command_names() -> list[str]:
    return list(_BY_NAME)


def argument_choices(shell: Shell) -> dict[str, Callable[[], Iterable[str]]]:
    """What Tab offers after each command, looked up when Tab is pressed."""
    return {
        "/mode": lambda: MODES,
        "/provider": lambda: PROVIDERS,
        "/model": lambda: DEFAULT_PRICES.prices,
        "/agents": lambda: _agent_library(shell).names(),
        "/project": lambda: [NO_PROJECT, *(project.name for project in shell.projects.list())],
    }


async def run_command(shell: Shell, text: str) -> None:
    """Run one ``/command argument`` entry.

    Raises:
        CommandError: an unknown command (with the nearest known one) or a misused one.
    """
    word, _, argument = text.partition(" ")
    name = ALIASES.get(word, word)
    command = _BY_NAME.get(name)
    if command is None:
        hint = _did_you_mean(word, _BY_NAME)
        raise CommandError(f"unknown command {word}{hint} (/help lists them)", key=word)
    await command.handler(shell, argument)
