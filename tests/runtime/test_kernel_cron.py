"""Recurring tasks: the schedule file, and the daemon running due entries on an injected clock."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from kernel_helpers import EventLog, make_llmos, scheduler_for

from llmos.backends.scripted import FunctionBackend, ScriptedBackend
from llmos.cli.daemon import run_daemon
from llmos.errors import ConfigError
from llmos.events import ScheduleFired, ScheduleSkipped, TaskFinished, TaskStarted
from llmos.runtime.cron import CronDaemon
from llmos.runtime.schedule_store import ScheduleStore
from llmos.testing.processes import process_alive, wait_until_gone
from llmos.workspace import Workspace

NOON = datetime(2026, 11, 25, 12, 0, tzinfo=timezone(timedelta(hours=1)))


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def store_at(workspace: Path, clock: Clock) -> ScheduleStore:
    return ScheduleStore.for_workspace(Workspace(workspace), clock=clock)


def test_entries_persist_with_their_next_run(workspace: Path):
    clock = Clock(NOON)
    entry = store_at(workspace, clock).add("*/15 * * * *", "Check the queue", mode="auto")
    assert entry.next_run == NOON + timedelta(minutes=15)
    [again] = store_at(workspace, Clock(NOON)).list()
    assert again == entry
    assert sorted(p.name for p in workspace.iterdir()) == ["schedule.json", "schedule.json.lock"]
    assert json.loads((workspace / "schedule.json").read_text())["version"] == 1
    assert store_at(workspace, clock).due(NOON) == []
    assert store_at(workspace, clock).due(NOON + timedelta(minutes=15)) == [entry]
    marked = store_at(workspace, clock).mark_run(entry.id, NOON + timedelta(minutes=47), "t-1")
    assert marked is not None and marked.next_run == NOON + timedelta(minutes=60)
    assert store_at(workspace, clock).mark_run("s-gone", NOON, None) is None


def test_a_damaged_schedule_file_is_a_clear_error(workspace: Path):
    workspace.mkdir(parents=True)
    (workspace / "schedule.json").write_text("{not json")
    with pytest.raises(ConfigError, match=re.escape("schedule.json is not valid JSON")):
        store_at(workspace, Clock(NOON)).list()


async def test_the_daemon_runs_a_due_entry_once_per_due_time(workspace: Path):
    clock = Clock(NOON - timedelta(minutes=2))
    entry = store_at(workspace, clock).add("* * * * *", "Say hello", mode="learner")
    clock.now = NOON
    backend = ScriptedBackend([{"text": "hello"}] * 2)
    async with make_llmos(workspace, backend) as llmos:
        log = EventLog(llmos.bus)
        scheduler = scheduler_for(llmos, concurrency=2)
        daemon = CronDaemon(store_at(workspace, clock), scheduler, bus=llmos.bus, clock=clock)
        [first] = await daemon.run_due()
        assert await daemon.run_due() == []  # same minute: not due again
        assert (await first.result()).text == "hello"
        clock.now = NOON + timedelta(seconds=59)
        assert await daemon.run_due() == []
        clock.now = NOON + timedelta(minutes=1)
        [second] = await daemon.run_due()
        assert (await second.result()).success
        await scheduler.close()
    [stored] = store_at(workspace, clock).list()
    assert stored.last_run == NOON + timedelta(minutes=1) and stored.last_task_id == second.task_id
    assert stored.next_run == NOON + timedelta(minutes=2)
    assert [e.task_id for e in log.of(TaskStarted)] == [first.task_id, second.task_id]
    fired = log.of(ScheduleFired)
    assert [(f.schedule_id, f.goal) for f in fired] == [(entry.id, "Say hello")] * 2
    assert [f.task_id for f in fired] == [first.task_id, second.task_id]
    assert [f.message for f in fired] == [f"schedule {entry.id} (* * * * *) is due: Say hello"] * 2


async def test_an_entry_still_running_is_not_started_twice(workspace: Path, never):
    clock = Clock(NOON - timedelta(minutes=1))
    entry = store_at(workspace, clock).add("* * * * *", "Hang", mode="learner")
    async with make_llmos(workspace, FunctionBackend(never)) as llmos:
        log = EventLog(llmos.bus)
        scheduler = scheduler_for(llmos, concurrency=2)
        daemon = CronDaemon(store_at(workspace, clock), scheduler, bus=llmos.bus, clock=clock)
        clock.now = NOON
        [running] = await daemon.run_due()
        clock.now = NOON + timedelta(minutes=1)
        assert await daemon.run_due() == []
        await scheduler.close()
    assert (await running.result()).error_type == "Cancelled"
    [skipped] = log.of(ScheduleSkipped)
    assert (skipped.schedule_id, skipped.task_id) == (entry.id, running.task_id)
    assert [skipped.message] == [
        f"schedule {entry.id} (* * * * *) is due again while its last run {running.task_id} "
        "is still going; this run is skipped"
    ]


async def test_run_daemon_once_runs_a_project_entry_in_the_project_folder(workspace: Path):
    clock = Clock(NOON - timedelta(hours=1))
    store_at(workspace, clock).add("30 * * * *", "Make a note", project="notes", mode="learner")
    turns = [
        {"tool_calls": [{"name": "Write", "input": {"file_path": "note.txt", "content": "hi"}}]},
        {"text": "noted"},
    ]
    llmos = make_llmos(workspace, ScriptedBackend(turns), **{"watchdog.stall_s": 60})
    log = EventLog(llmos.bus)
    failed = await run_daemon(llmos, once=True, clock=Clock(NOON))
    assert failed == 0
    [done] = log.of(TaskFinished)
    assert done.text == "noted"
    assert (workspace.parent / "note.txt").read_text() == "hi"


def daemon_process(workspace: Path, script: Path) -> subprocess.Popen[str]:
    code = "import typer; from llmos.cli.daemon import daemon_command; typer.run(daemon_command)"
    args = ["-w", str(workspace), "--provider", "scripted", "--script", str(script)]
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_sigterm_stops_the_daemon_and_kills_the_running_task_cleanly(
    workspace: Path, tmp_path: Path
):
    sleeper = "sleep 300 & echo $! > child.pid; wait"
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps([{"tool_calls": [{"name": "Bash", "input": {"command": sleeper}}]}])
    )
    workspace.mkdir(parents=True)
    (workspace / "llmos.toml").write_text("[tools]\nsandbox = false\n")
    past = Clock(datetime.now().astimezone() - timedelta(minutes=5))
    store_at(workspace, past).add("* * * * *", "Sleep in the background", mode="learner")
    process = daemon_process(workspace, script)
    try:
        pid_file = workspace.parent / "child.pid"
        started = time.monotonic()
        while not (pid_file.exists() and pid_file.read_text().strip()):
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() - started < 240, "the scheduled task never started"
            time.sleep(0.05)
        child = int(pid_file.read_text())
        assert process_alive(child)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    lines = output.splitlines()
    assert lines[0].startswith("daemon: 1 recurring task(s) in ")
    assert any(re.search(r"t-\w+ failed \(Cancelled\): ", line) for line in lines), output
    assert lines[-1] == "daemon stopped"
    assert asyncio.run(wait_until_gone(child))
