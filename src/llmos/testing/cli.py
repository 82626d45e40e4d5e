"""Running the real ``llmos`` CLI from tests, as a user would: a subprocess over one workspace.

The child gets this process's environment without any ``LLMOS_`` setting (so
neither a developer's keys nor another test's workspace leaks in), except
``LLMOS_NO_BWRAP`` (the CI's pass without the sandbox) and
``LLMOS_LIBRARY__STARTER`` (the suite keeps the starter library off), plus the
workspace and what the test adds. A finished run is a ``CompletedProcess`` with text output;
a run the test must signal or race is a ``Popen``.

Example:
    >>> done = run_llmos("traces", "list", cwd=tmp_path, workspace=tmp_path / "ws")
    >>> assert done.returncode == 0, done.stderr
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: The most a test waits for one CLI run (a busy machine starts Python slowly).
CLI_TIMEOUT_S = 120.0

#: The suite keeps the starter library off (tests/conftest.py) unless a test switches it on:
#: a child that is given a clean environment keeps this one setting.
STARTER_SWITCH = "LLMOS_LIBRARY__STARTER"
#: Settings kept in every child: the CI's second pass runs without bubblewrap, and the
#: suite's starter switch.
_KEPT = ("LLMOS_NO_BWRAP", STARTER_SWITCH)

#: A script whose one step starts a Bash child that sleeps a minute and writes its pid
#: to ``child.pid`` in the working directory: a run stays busy until it is stopped.
SLEEPER_TURNS: list[dict[str, Any]] = [
    {
        "tool_calls": [
            {"name": "Bash", "input": {"command": "sleep 60 & echo $! > child.pid; wait"}}
        ]
    },
    {"text": "never"},
]


def llmos_argv(*args: str | bytes) -> list[str | bytes]:
    """The command line of ``llmos ARGS`` with this interpreter (bytes: an argument as a
    terminal in another encoding would send it)."""
    return [sys.executable, "-m", "llmos", *args]


def cli_env(
    workspace: Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    cwd: Path | None = None,
) -> dict[str, str]:
    """This environment without ``LLMOS_`` settings, with ``workspace`` and ``env`` added.

    A run given neither a workspace nor ``LLMOS_HOME`` keeps its state in
    ``cwd/workspace``, never in the home of whoever runs the tests.
    """
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LLMOS_") or k in _KEPT}
    if workspace is not None:
        clean["LLMOS_WORKSPACE"] = str(workspace)
    clean.update(env or {})
    if "LLMOS_WORKSPACE" not in clean and "LLMOS_HOME" not in clean and cwd is not None:
        clean["LLMOS_HOME"] = str(Path(cwd).absolute() / "workspace")
    return clean


def settings_env(settings: Mapping[str, object]) -> dict[str, str]:
    """Dotted settings (``tools.sandbox``) as the variables that set them."""
    return {
        "LLMOS_" + key.upper().replace(".", "__"): str(value) for key, value in settings.items()
    }


def run_llmos(
    *args: str,
    cwd: Path,
    workspace: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout_s: float = CLI_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """Run ``llmos ARGS`` to its end in ``cwd``; a run past ``timeout_s`` fails the test."""
    return subprocess.run(
        llmos_argv(*args),
        cwd=cwd,
        env=cli_env(workspace, env, cwd=cwd),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def start_llmos(
    *args: str,
    cwd: Path,
    workspace: Path | None = None,
    env: Mapping[str, str] | None = None,
    merge_stderr: bool = False,
) -> subprocess.Popen[str]:
    """Start ``llmos ARGS`` in ``cwd`` with its output piped; the test waits for it or signals it.

    ``merge_stderr`` sends stderr into stdout, for a test that reads one stream.
    """
    return subprocess.Popen(
        llmos_argv(*args),
        cwd=cwd,
        env=cli_env(workspace, env, cwd=cwd),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        text=True,
    )


def write_script(path: Path, turns: Sequence[Mapping[str, Any]]) -> Path:
    """A scripted backend's turns, as ``--script PATH`` reads them."""
    path.write_text(json.dumps(list(turns)))
    return path


def sleeper_script(path: Path) -> Path:
    """:data:`SLEEPER_TURNS` written to ``path``: a run that sleeps until it is stopped."""
    return write_script(path, SLEEPER_TURNS)
