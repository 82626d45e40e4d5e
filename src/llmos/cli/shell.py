"""``llmos shell``: an interactive prompt; each line is a goal, slash commands steer.

One :class:`~llmos.api.LLMOS` instance serves the whole session, so the
backend (a warm Claude SDK client, a loaded local model) is reused from one
goal to the next. Each goal runs as an asyncio task in the foreground: Ctrl-C
cancels that task (the dispatcher turns it into a failed run that keeps a
partial trace) and the prompt comes back; Ctrl-D or ``/exit`` leaves.
"""

from __future__ import annotations

import asyncio
import os
import signal
import traceback
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.markup import escape

from llmos.api import LLMOS
from llmos.backends.factory import select_provider
from llmos.cli.render import HumanRenderer
from llmos.cli.shell_commands import argument_choices, command_names, run_command
from llmos.cli.shell_input import HISTORY_FILE, ShellCompleter, ShellInput, open_input
from llmos.config import Settings
from llmos.errors import LLMOSError
from llmos.events import Event, TaskFailed, TaskFinished, TaskStarted
from llmos.projects import Project, Projects
from llmos.workspace import Workspace


def run_shell(settings: Settings, console: Console) -> int:
    """Run the shell until Ctrl-D or ``/exit``; returns the exit code (0)."""
    return asyncio.run(_main(settings, console))


async def _main(settings: Settings, console: Console) -> int:
    shell = Shell(settings, console)
    shell.input = open_input(
        Workspace(settings.workspace).root / HISTORY_FILE,
        ShellCompleter(command_names(), argument_choices(shell)),
    )
    return await shell.serve()


class ShellRenderer(HumanRenderer):
    """The task renderer, plus what a long session needs.

    It knows whether the goal's own task has reported its end (so an error is
    not shown twice), resets the cost line for each goal, and can pause the
    spinner while the person answers a question.
    """

    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self._main_task: str | None = None
        self.ended = False

    def begin_goal(self) -> None:
        self._main_task = None
        self.ended = False
        self.reset()

    def __call__(self, event: Event) -> None:
        if isinstance(event, TaskStarted) and self._main_task is None:
            self._main_task = event.task_id
        super().__call__(event)
        if isinstance(event, TaskFinished | TaskFailed) and event.task_id == self._main_task:
            self.ended = True


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a foreground job ended: with an error, cancelled by Ctrl-C, or well."""

    error: BaseException | None = None
    cancelled: bool = False


class Shell:
    """One interactive session: its settings, mode, project and LLMOS instance."""

    def __init__(self, settings: Settings, console: Console) -> None:
        self.settings = settings
        self.console = console
        self.mode = settings.mode
        self.workspace = Workspace(settings.workspace)
        self.projects = Projects(self.workspace)
        self.renderer = ShellRenderer(console)
        self.input: ShellInput | None = None
        self.running = True
        self._llmos: LLMOS | None = None
        self._foreground: asyncio.Task[Any] | None = None

    @property
    def llmos(self) -> LLMOS:
        if self._llmos is None:
            raise RuntimeError("the shell has not started")
        return self._llmos

    @property
    def project(self) -> Project | None:
        """The project goals work in (its output, memory and agents), or None."""
        return self.llmos.project

    @property
    def prompt(self) -> ShellInput:
        if self.input is None:
            raise RuntimeError("the shell has no input")
        return self.input

    # ------------------------------------------------------------- lifecycle

    async def serve(self) -> int:
        """Read and handle entries until Ctrl-D, the end of the pipe, or ``/exit``."""
        await self.switch(self.settings)
        provider, _ = select_provider(self.settings)
        project = f" · project {escape(self.project.name)}" if self.project else ""
        self.console.print(
            f"llmos shell · workspace {escape(str(self.workspace.root))}{project} · "
            f"mode {self.mode} · provider {provider}"
        )
        self.console.print("[dim]type a goal, /help for commands, Ctrl-D to leave[/]")
        try:
            while self.running:
                try:
                    line = await self.prompt.read()
                except EOFError:
                    break
                except KeyboardInterrupt:
                    continue  # Ctrl-C at the prompt drops the line
                await self.handle(line)
        finally:
            if self._llmos is not None:
                await self._llmos.shutdown()
        return 0

    async def switch(self, settings: Settings) -> None:
        """Use new settings (``/provider``, ``/model``, ``/project``): a new instance.

        The new instance boots before the old one is closed, so a bad setting
        leaves the session as it was.
        """
        fresh = LLMOS(settings=settings, ask=self.ask)
        try:
            await fresh.boot()
        except BaseException:
            await fresh.shutdown()
            raise
        fresh.subscribe(self.renderer)
        old, self._llmos, self.settings = self._llmos, fresh, settings
        if old is not None:
            await old.shutdown()

    # ------------------------------------------------------------- entries

    async def handle(self, line: str) -> None:
        """One entry: a slash command, or a goal."""
        text = line.strip()
        if not text:
            return
        first = text.split(maxsplit=1)[0]
        if first.startswith("/") and "/" not in first[1:]:  # "/tmp/x.py …" is a goal
            outcome = await self.foreground(run_command(self, text))
            if outcome.cancelled:
                self.console.print("  [yellow]cancelled[/]")
            elif outcome.error is not None:
                self.show_error(outcome.error)
            return
        await self.run_goal(text)

    async def run_goal(self, goal: str) -> None:
        """Run a goal in the session's mode and project; the renderer draws it."""
        self.renderer.begin_goal()
        outcome = await self.foreground(self.llmos.execute(goal, mode=self.mode))
        if self.renderer.ended:
            return
        self.renderer.pause()
        if outcome.cancelled:
            self.console.print("  [yellow]cancelled[/] before the task started")
        elif outcome.error is not None:
            self.show_error(outcome.error)

    async def foreground(self, work: Awaitable[Any]) -> Outcome:
        """Run ``work`` as a task that Ctrl-C (SIGINT) cancels, leaving the shell running."""
        task = asyncio.ensure_future(work)
        self._foreground = task
        loop = asyncio.get_running_loop()
        previous = signal.getsignal(signal.SIGINT)
        loop.add_signal_handler(signal.SIGINT, self.interrupt)
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            self._foreground = None
            loop.remove_signal_handler(signal.SIGINT)
            if previous is not None:  # None: set outside Python; asyncio's default stays
                signal.signal(signal.SIGINT, previous)
        if task.cancelled():
            return Outcome(cancelled=True)
        return Outcome(error=task.exception())

    def interrupt(self) -> None:
        """Ctrl-C while something runs: cancel it (again on a second Ctrl-C)."""
        task = self._foreground
        if task is None or task.done():
            return
        self.renderer.pause()
        self.console.print("  [yellow]^C[/] cancelling…")
        task.cancel()

    async def ask(self, tool: str, reason: str) -> bool:
        """The security policy wants a person's approval for a tool call."""
        self.renderer.pause()
        self.console.print(f"  [yellow]? {escape(tool)} needs approval:[/] {escape(reason)}")
        if not self.prompt.interactive:
            self.console.print("  [yellow]no terminal to ask, so it is denied[/]")
            return False
        try:
            return await self.prompt.confirm(f"  allow this {tool} call?")
        except EOFError:
            return False
        except KeyboardInterrupt:
            self.interrupt()
            return False

    def show_error(self, error: BaseException) -> None:
        """One line for the person (a traceback too with ``--debug``); the shell goes on."""
        if os.environ.get("LLMOS_DEBUG") == "1":
            self.console.print(
                escape("".join(traceback.format_exception(error))), style="dim", end=""
            )
        kind = "" if isinstance(error, LLMOSError) else f"{type(error).__name__}: "
        self.console.print(f"[red]error:[/] {escape(kind + str(error))}")
