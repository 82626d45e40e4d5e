"""Fixtures shared by every test: a fresh workspace and a clean environment."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

# A runner started in the background by a non-interactive shell (`cmd &`) has SIGINT
# ignored, and every process it starts would inherit that: a test that sends Ctrl-C to
# `llmos run` would then wait for a signal that is never delivered. A Python-level
# handler is reset to the default on exec, so the tests' processes get the default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True, scope="session")
def _checkout_stays_clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """No test may leave files in the checkout (a task run where the tests were started
    writes beside the user's files: that is the checkout)."""
    root = request.config.rootpath
    before = {p.name for p in root.iterdir() if not p.name.startswith(".")}
    yield
    left = {p.name for p in root.iterdir() if not p.name.startswith(".")} - before
    assert not left, f"tests left files in the checkout: {sorted(left)}"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's keys, servers or llmos settings."""
    for name in list(os.environ):
        if name == "LLMOS_NO_BWRAP":
            continue  # the CI's second pass: the policy alone, as where bwrap is missing
        if name.startswith("LLMOS_") or name in (
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_BASE_URL",
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
        ):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLMOS_WORKSPACE", str(tmp_path / "workspace"))
    # Tasks work in the folder the user is in: each test is in its own.
    monkeypatch.chdir(tmp_path)
    # Tests of learning start from an empty library: the shipped starter traces would
    # follow their goals. Tests of the starter library switch it on (or delete this).
    monkeypatch.setenv("LLMOS_LIBRARY__STARTER", "false")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return tmp_path / "workspace"


class _TrackedPopen(subprocess.Popen):
    """A Popen that remembers itself, so a test cannot leave a process behind."""

    started: ClassVar[list[subprocess.Popen]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _TrackedPopen.started.append(self)


def _end(process: subprocess.Popen) -> bool:
    """Kill ``process`` (its group, when it leads one) if it runs; close its pipes.

    True when it was still running: the test forgot it.
    """
    running = process.poll() is None
    if running:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(process.pid) == process.pid:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=60)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    return running


@pytest.fixture(autouse=True)
def _no_process_left_behind(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every process a test starts ends with the test, even when the test fails.

    A process left running (and its pipes left open) would otherwise be found
    by the garbage collector during a later test, whose ``ResourceWarning`` then
    fails that innocent test.
    """
    monkeypatch.setattr(subprocess, "Popen", _TrackedPopen)
    _TrackedPopen.started = []
    yield
    leftovers = [p.pid for p in _TrackedPopen.started if _end(p)]
    _TrackedPopen.started = []
    assert not leftovers, f"the test left processes running: {leftovers} (killed now)"


ARTIFACTS = Path(__file__).parent / "artifacts"
_STARTED = pytest.StashKey[float]()


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_STARTED] = time.time()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fault suite's totals, summed over the files its workers wrote this session.

    Printed here, not in ``tests/faults/conftest.py``: under pytest-xdist the
    process that prints never loads a sub-folder's conftest.
    """
    started = terminalreporter.config.stash.get(_STARTED, time.time())
    written = [p for p in ARTIFACTS.glob("faults-*.json") if p.stat().st_mtime >= started]
    if not written:
        return
    totals: dict[str, int] = {}
    for path in written:
        for name, count in json.loads(path.read_text()).items():
            totals[name] = totals.get(name, 0) + count
    (ARTIFACTS / "faults.json").write_text(json.dumps(dict(sorted(totals.items()))) + "\n")
    keys = ("kills_survived", "processes", "fuzz_cases", "faults_injected")
    shown = ", ".join(f"{k}={totals.get(k, 0)}" for k in keys)
    terminalreporter.write_line(f"fault suite: {shown} (written to {ARTIFACTS / 'faults.json'})")
