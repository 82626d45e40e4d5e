"""Drive the real ``llmos shell`` in a pseudo-terminal, as a person at a keyboard would.

The shell's output is full of terminal control codes (prompt_toolkit redraws
the prompt, rich colours and spins); :class:`ShellDriver` strips them and
waits for plain text, reading forward through the transcript so that one
``expect`` never matches what an earlier one already consumed.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import pexpect

from llmos.testing.cli import STARTER_SWITCH

#: CSI and OSC sequences, charset selection, keypad modes, carriage returns.
CONTROL = re.compile(
    r"\x1b\[[0-9;?<=>]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]"
    r"|\x1b[=>78]|\r"
)
#: A fresh prompt starts a line; prompt_toolkit's redraws of the line being typed do not.
PROMPT = r"\nllmos>"
#: The machine is shared and loaded: wait long, but only as long as needed.
WAIT_S = 90.0
UP = "\x1b[A"
ESC_ENTER = "\x1b\r"

HELLO_TURNS: list[dict[str, Any]] = [
    {
        "text": "I will create the file.",
        "tool_calls": [
            {"name": "Write", "input": {"file_path": "hello.txt", "content": "hello\n"}}
        ],
    },
    {"tool_calls": [{"name": "Bash", "input": {"command": "cat hello.txt && echo checked"}}]},
    {"text": "Created hello.txt."},
]


def write_script(path: Path, turns: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(turns), encoding="utf-8")
    return path


def shell_env() -> dict[str, str]:
    """The caller's environment without llmos settings, with a real terminal type."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMOS_") or k == STARTER_SWITCH}
    env["TERM"] = "xterm-256color"
    env["PROMPT_TOOLKIT_NO_CPR"] = "1"  # pexpect does not answer cursor position requests
    return env


class ShellDriver:
    """One ``python -m llmos shell`` process in a pseudo-terminal."""

    def __init__(self, workspace: Path, script: Path | None, *extra: str) -> None:
        args = ["-m", "llmos", "shell", "--workspace", str(workspace), *extra]
        if script is not None:
            args += ["--provider", "scripted", "--script", str(script)]
        self.child = pexpect.spawn(
            sys.executable,
            args,
            cwd=str(workspace.parent),
            env=shell_env(),
            encoding="utf-8",
            dimensions=(50, 160),
            timeout=WAIT_S,
        )
        self._raw = ""
        self._position = 0

    @property
    def transcript(self) -> str:
        """Everything the shell printed so far, without control codes."""
        return CONTROL.sub("", self._raw)

    def _read(self, timeout: float) -> bool:
        """Read what is there; False once the process has closed its terminal."""
        try:
            self._raw += self.child.read_nonblocking(65536, timeout=timeout)
        except pexpect.TIMEOUT:
            pass
        except pexpect.EOF:
            return False
        return True

    def expect(self, pattern: str, timeout: float = WAIT_S) -> re.Match[str]:
        """Wait until ``pattern`` (a regex) appears after everything matched before."""
        wanted = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = wanted.search(self.transcript, self._position)
            if found:
                self._position = found.end()
                return found
            alive = self._read(min(1.0, max(deadline - time.monotonic(), 0.0)))
            if not alive or time.monotonic() > deadline:
                found = wanted.search(self.transcript, self._position)
                if found:
                    self._position = found.end()
                    return found
                why = "the shell ended" if not alive else f"{timeout:.0f} s passed"
                unread = self.transcript[self._position :]
                raise AssertionError(f"{pattern!r} never appeared ({why}); after it: {unread!r}")

    def prompt(self) -> None:
        self.expect(PROMPT)

    def send(self, keys: str) -> None:
        self.child.send(keys)

    def enter(self, line: str) -> None:
        """Type ``line`` and Enter, then skip its echo (up to the accepted line's newline).

        Skipping the echo keeps later patterns from matching the typed text
        instead of what the shell prints in answer.
        """
        self.child.send(line + "\r")
        self.expect(r"\n")

    def run(self, line: str, *expected: str) -> None:
        """Enter ``line``, wait for each expected pattern in order, then the next prompt."""
        self.enter(line)
        for pattern in expected:
            self.expect(pattern)
        self.prompt()

    def interrupt(self) -> None:
        self.child.sendintr()

    def end_of_input(self) -> int:
        """Ctrl-D at an empty prompt; returns the exit code."""
        self.child.sendeof()
        while self._read(1.0):
            pass
        self.child.close()
        assert self.child.exitstatus is not None, f"killed by signal {self.child.signalstatus}"
        return self.child.exitstatus

    def close(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)
