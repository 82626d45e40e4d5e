"""L2 session log: every event of every task, one JSON line each, one file per session."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import get_args

from tiers_helpers import every_kind

from llmos.events import Event, TaskStarted, TextStreamed, event_to_json
from llmos.memory.session_log import LogProblem, SessionLog
from llmos.runtime.bus import EventBus

WRITER = Path(__file__).with_name("tiers_log_writer.py")


async def test_every_event_kind_round_trips_through_a_real_bus(tmp_path: Path) -> None:
    sessions = tmp_path / "sessions"
    log = SessionLog(sessions)
    bus = EventBus()
    bus.subscribe(log)
    first, second = every_kind("t-one"), every_kind("t-two", failed=True)
    union = {t.__dataclass_fields__["kind"].default for t in get_args(get_args(Event)[0])}
    assert {e.kind for e in first + second} == union  # one of each, new kinds included
    for pair in zip(first, second, strict=True):  # two tasks interleaved, as under concurrency
        for event in pair:
            await bus.publish(event)
    log.close()

    assert [p.name for p in sessions.iterdir()] == [log.path.name]
    assert re.fullmatch(rf"\d{{8}}T\d{{6}}Z-{os.getpid()}-[0-9a-f]{{6}}\.jsonl", log.path.name)
    lines = log.path.read_text(encoding="utf-8").splitlines()
    assert lines == [event_to_json(e) for pair in zip(first, second, strict=True) for e in pair]
    problems: list[LogProblem] = []
    assert list(SessionLog(sessions).iter_events("t-one", on_problem=problems.append)) == first
    assert list(SessionLog(sessions).iter_events("t-two")) == second
    assert len(list(SessionLog(sessions).iter_events())) == len(first) + len(second)
    assert problems == []


async def test_task_summaries_come_most_recent_first_with_status_and_cost(tmp_path: Path) -> None:
    log = SessionLog(tmp_path)
    for event in [*every_kind("t-old"), *every_kind("t-new", failed=True)]:
        log(event)
    log(TaskStarted(task_id="t-open", goal="still going", mode="auto", workspace="/ws"))
    log.close()
    summaries = SessionLog(tmp_path).tasks()
    assert [(s.task_id, s.status, s.mode) for s in summaries] == [
        ("t-open", "running", "auto"),  # this process wrote it and is alive
        ("t-new", "failed", "learner"),
        ("t-old", "done", "learner"),
    ]
    old = summaries[2]
    assert (old.goal, old.cost_usd, old.duration_s, old.trace_id) == (
        "Goal of t-old — with ünïcode",
        0.002,
        0.5,
        "abc123abc123",
    )
    assert summaries[1].error == "boom"
    assert summaries[0].session == log.path.name


def test_sessions_get_their_own_files_and_are_read_in_order(tmp_path: Path) -> None:
    earlier, later = SessionLog(tmp_path), SessionLog(tmp_path)
    assert earlier.path != later.path
    earlier(TaskStarted(task_id="t-a", goal="a", mode="auto", workspace="/ws"))
    later(TaskStarted(task_id="t-b", goal="b", mode="auto", workspace="/ws"))
    earlier(TextStreamed(task_id="t-a", text="more of a"))
    earlier.close()
    later.close()
    events = list(SessionLog(tmp_path).iter_events("t-a"))
    assert [type(e).__name__ for e in events] == ["TaskStarted", "TextStreamed"]
    assert {s.task_id for s in SessionLog(tmp_path).tasks()} == {"t-a", "t-b"}


def test_a_torn_last_line_is_skipped_with_a_note(tmp_path: Path) -> None:
    log = SessionLog(tmp_path)
    events = every_kind("t-torn")[:-1]
    for event in events:
        log(event)
    log.close()
    whole = event_to_json(every_kind("t-torn")[-1])
    with log.path.open("ab") as handle:
        handle.write(whole[: len(whole) // 2].encode())  # the process died mid-write
    problems: list[LogProblem] = []
    assert list(SessionLog(tmp_path).iter_events(on_problem=problems.append)) == events
    assert [(p.path, p.line) for p in problems] == [(log.path, len(events) + 1)]
    assert "torn last line" in str(problems[0]) and str(log.path) in str(problems[0])
    summary = SessionLog(tmp_path).tasks()[0]
    assert summary.status == "running" and summary.cost_usd == 0.002


def test_a_foreign_line_in_the_middle_is_skipped_and_reading_goes_on(tmp_path: Path) -> None:
    log = SessionLog(tmp_path)
    log(TaskStarted(task_id="t-x", goal="x", mode="auto", workspace="/ws"))
    log.close()
    with log.path.open("a", encoding="utf-8") as handle:
        handle.write('{"kind": "from-the-future", "task_id": "t-x"}\nnot json at all\n')
    log(TextStreamed(task_id="t-x", text="after"))
    log.close()
    problems: list[LogProblem] = []
    events = list(SessionLog(tmp_path).iter_events(on_problem=problems.append))
    assert [type(e).__name__ for e in events] == ["TaskStarted", "TextStreamed"]
    assert [p.line for p in problems] == [2, 3]
    assert all("not an llmos event" in p.reason for p in problems)


def test_a_killed_process_loses_no_logged_event(tmp_path: Path) -> None:
    writer = subprocess.Popen(
        [sys.executable, str(WRITER), str(tmp_path), "t-killed"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.communicate(timeout=120)
    problems: list[LogProblem] = []
    events = list(SessionLog(tmp_path).iter_events("t-killed", on_problem=problems.append))
    assert isinstance(events[0], TaskStarted)
    chunks = [e.text.split()[1] for e in events[1:] if isinstance(e, TextStreamed)]
    assert len(chunks) >= 50 and chunks == [str(n) for n in range(len(chunks))]
    assert all("torn" in p.reason for p in problems)  # at worst the very last line
    [summary] = SessionLog(tmp_path).tasks()
    assert (summary.task_id, summary.status) == ("t-killed", "interrupted")


def test_reading_an_empty_or_missing_folder_finds_nothing(tmp_path: Path) -> None:
    missing = SessionLog(tmp_path / "nowhere")
    assert list(missing.iter_events()) == [] and missing.tasks() == []
    assert not (tmp_path / "nowhere").exists()  # reading creates nothing


def test_each_line_is_one_json_object(tmp_path: Path) -> None:
    log = SessionLog(tmp_path)
    for event in every_kind("t-json"):
        log(event)
    log.close()
    for line in log.path.read_text(encoding="utf-8").splitlines():
        assert json.loads(line)["task_id"] == "t-json"
