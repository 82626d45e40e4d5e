"""SIGTERM and SIGHUP to `llmos run` end it as cleanly as Ctrl-C.

A service manager stops a program with SIGTERM, a closed terminal sends
SIGHUP. Either one used to kill llmos on the spot: its Bash child lived on
under PID 1, the run left no record and its budget reservation stayed open.
Now the Bash process group is killed, the run is saved as cancelled and the
reservation is released before the process exits with 128 + the signal.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from faults_helpers import FaultCounts, trace_files

from llmos.memory import TraceStore
from llmos.outcome import FailureKind
from llmos.owners import _start_time as ledger_start_time
from llmos.owners import owner_alive
from llmos.testing.cli import sleeper_script, start_llmos
from llmos.testing.processes import process_alive, wait_until_gone


def open_reservations(workspace: Path) -> int:
    """Open reservations as the ledger holds them (no reclaiming of dead owners first)."""
    conn = sqlite3.connect(workspace / "ledger.sqlite")
    try:
        return conn.execute("SELECT COUNT(*) FROM reservations WHERE state = 'open'").fetchone()[0]
    finally:
        conn.close()


def wait_for_file(path: Path, process: subprocess.Popen[str]) -> None:
    """Until ``path`` holds something (the Bash child wrote its pid), or the run ended."""
    while not (path.exists() and path.read_text().strip()):
        assert process.poll() is None, process.communicate()[0]
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=str)
def test_a_terminating_signal_kills_the_bash_group_records_the_run_and_releases_the_budget(
    tmp_path: Path, fault_counts: FaultCounts, signum: signal.Signals
):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "llmos.toml").write_text(
        '[prices."scripted"]\ninput = 3.0\noutput = 15.0\n[budget]\ntotal_usd = 5\n'
        "[tools]\nsandbox = false\n"
    )
    script = sleeper_script(tmp_path / "sleeper.json")
    process = start_llmos(
        "run",
        "--provider",
        "scripted",
        "--script",
        str(script),
        "Sleep a while",
        cwd=tmp_path,
        workspace=workspace,
        merge_stderr=True,
    )
    pid_file = workspace.parent / "child.pid"
    wait_for_file(pid_file, process)
    assert open_reservations(workspace) == 1
    process.send_signal(signum)
    output, _ = process.communicate(timeout=60)

    assert process.returncode == 128 + signum, output
    assert "Traceback" not in output, output
    child = int(pid_file.read_text())
    assert asyncio.run(wait_until_gone(child)), f"the Bash child {child} outlived the run"
    assert not process_alive(child)
    assert open_reservations(workspace) == 0, "the reservation was left open"
    files = trace_files(workspace)
    assert files.temp_files == [] and len(files.ids) == 1, files
    trace = TraceStore.for_memory(workspace / "memory").load(files.ids[0])
    assert (trace.status, trace.failure) == ("failed", FailureKind.CANCELLED)
    fault_counts.add("faults_injected", 1)
    fault_counts.add("processes", 1)


def test_a_zombie_owner_counts_as_ended_so_its_reservation_is_reclaimed():
    """A process that ended but was not reaped yet will never release what it holds."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        owner = f"{socket.gethostname()}:{child.pid}:{ledger_start_time(child.pid)}"
        assert owner_alive(owner)
        assert child.stdin is not None
        child.stdin.close()  # it exits; nobody reaps it until wait() below
        while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            time.sleep(0.02)
        assert not owner_alive(owner)
    finally:
        child.wait()
