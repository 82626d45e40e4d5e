"""Fixtures for the shell tests: a workspace, scripts, and shells in pseudo-terminals."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from shell_driver import HELLO_TURNS, ShellDriver, write_script


@pytest.fixture
def hello_script(tmp_path: Path) -> Path:
    return write_script(tmp_path / "hello.json", HELLO_TURNS)


@pytest.fixture
def open_shell(workspace: Path) -> Iterator[Callable[..., ShellDriver]]:
    """Start shells on the test's workspace; any still running at the end is killed."""
    started: list[ShellDriver] = []

    def start(script: Path | None, *extra: str) -> ShellDriver:
        shell = ShellDriver(workspace, script, *extra)
        started.append(shell)
        shell.prompt()
        return shell

    yield start
    for shell in started:
        shell.close()
