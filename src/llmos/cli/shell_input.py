"""Where the shell's lines come from: a prompt_toolkit prompt on a terminal, or a pipe.

On a terminal the prompt keeps its history in the workspace, completes slash
commands and their arguments with Tab, and takes multi-line input: a line
that ends with a backslash continues on the next one, and Esc-Enter (or
Alt-Enter) inserts a newline. When stdin is not a terminal the same rules
apply to plain lines, so ``printf 'goal\\n/exit\\n' | llmos shell`` works.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Protocol, TextIO

from prompt_toolkit import PromptSession
from prompt_toolkit.application import get_app
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.filters import Condition
from prompt_toolkit.history import FileHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.output import create_output
from prompt_toolkit.patch_stdout import patch_stdout

HISTORY_FILE = ".shell_history"
PROMPT = "llmos> "
CONTINUATION = "...    "
YES_WORDS = frozenset({"y", "yes"})

#: For each slash command that takes an argument, the values Tab offers.
ArgumentChoices = Mapping[str, Callable[[], Iterable[str]]]


class ShellInput(Protocol):
    """A source of shell lines and of yes/no answers."""

    interactive: bool

    async def read(self) -> str:
        """The next entry, continuation lines joined.

        Raises:
            EOFError: the person pressed Ctrl-D or the pipe ended.
            KeyboardInterrupt: the person abandoned the line with Ctrl-C.
        """
        ...

    async def confirm(self, question: str) -> bool:
        """Ask a yes/no question; anything but y/yes is no."""
        ...


def read_history(path: Path) -> list[str]:
    """Every entry of a prompt_toolkit history file, oldest first."""
    if not path.is_file():
        return []
    return list(reversed(list(FileHistory(str(path)).load_history_strings())))


class ShellCompleter(Completer):
    """Tab completes ``/command`` names, then the first argument from ``choices``."""

    def __init__(self, commands: Iterable[str], choices: ArgumentChoices) -> None:
        self.commands = sorted(commands)
        self.choices = choices

    def get_completions(self, document: Document, complete_event: CompleteEvent):
        text = document.text_before_cursor
        if not text.startswith("/") or "\n" in text:
            return
        command, space, argument = text.partition(" ")
        if not space:
            for name in self.commands:
                if name.startswith(command):
                    yield Completion(name + " ", start_position=-len(command), display=name)
            return
        if " " in argument or command not in self.choices:
            return
        for value in sorted(set(self.choices[command]())):
            if value.startswith(argument):
                yield Completion(value, start_position=-len(argument))


def _key_bindings() -> KeyBindings:
    bindings = KeyBindings()

    @Condition
    def continues() -> bool:
        buffer = get_app().current_buffer
        return buffer.document.is_cursor_at_the_end and buffer.text.endswith("\\")

    @bindings.add("enter", filter=continues)
    def _continue(event: KeyPressEvent) -> None:
        """A trailing backslash: the entry goes on on the next line."""
        event.current_buffer.delete_before_cursor(1)
        event.current_buffer.insert_text("\n")

    @bindings.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        """Esc-Enter / Alt-Enter: a newline inside the entry."""
        event.current_buffer.insert_text("\n")

    return bindings


class TerminalInput:
    """The prompt on a terminal: history, completion, multi-line, inline questions.

    Output written while a prompt is shown goes through ``patch_stdout`` and
    appears above it, so rendering and the prompt never garble each other.
    """

    interactive = True

    def __init__(self, history_file: Path, completer: Completer) -> None:
        history_file.parent.mkdir(parents=True, exist_ok=True)
        self.session: PromptSession[str] = PromptSession(
            PROMPT,
            history=FileHistory(str(history_file)),
            completer=completer,
            complete_while_typing=False,
            auto_suggest=AutoSuggestFromHistory(),
            key_bindings=_key_bindings(),
            prompt_continuation=CONTINUATION,
        )
        self._questions: PromptSession[str] = PromptSession()

    async def read(self) -> str:
        with patch_stdout(raw=True):
            return await self.session.prompt_async()

    async def confirm(self, question: str) -> bool:
        with patch_stdout(raw=True):
            return await confirm_on_terminal(question, self._questions)


async def confirm_on_terminal(
    question: str, session: PromptSession[str] | None = None, *, stderr: bool = False
) -> bool:
    """Ask a yes/no question on the terminal; anything but y/yes is no.

    The shell asks inline, under its prompt; ``llmos run`` asks with
    ``stderr=True``, so a question never lands in a redirected stdout.
    """
    if session is None:
        session = PromptSession(output=create_output(stdout=sys.stderr) if stderr else None)
    answer = await session.prompt_async(f"{question} [y/N] ")
    return answer.strip().lower() in YES_WORDS


class PipedInput:
    """Lines from a pipe or a file, read by a daemon thread.

    A daemon thread, not ``asyncio.to_thread``: a read blocked on an idle pipe
    must not keep the process alive after ``/exit``.
    """

    interactive = False

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdin
        self._lines: asyncio.Queue[str | None] | None = None

    def _start(self) -> asyncio.Queue[str | None]:
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[str | None] = asyncio.Queue()

        def pump() -> None:
            for line in self.stream:
                loop.call_soon_threadsafe(lines.put_nowait, line.rstrip("\r\n"))
            loop.call_soon_threadsafe(lines.put_nowait, None)

        threading.Thread(target=pump, name="llmos-shell-stdin", daemon=True).start()
        return lines

    async def _line(self) -> str:
        if self._lines is None:
            self._lines = self._start()
        line = await self._lines.get()
        if line is None:
            self._lines.put_nowait(None)  # stays at the end
            raise EOFError
        return line

    async def read(self) -> str:
        parts = [await self._line()]
        while parts[-1].endswith("\\"):
            parts[-1] = parts[-1][:-1]
            try:
                parts.append(await self._line())
            except EOFError:
                break
        return "\n".join(parts)

    async def confirm(self, question: str) -> bool:
        """Nobody can answer through a pipe, so the answer is no (the safe one)."""
        return False


def open_input(history_file: Path, completer: Completer) -> ShellInput:
    """The prompt when stdin and stdout are terminals, else plain lines."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        return TerminalInput(history_file, completer)
    return PipedInput()
