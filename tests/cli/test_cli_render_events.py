"""The renderers print the typed events as people read them, from the events' fields."""

from __future__ import annotations

import io

from rich.console import Console

from llmos.cli.daemon import DaemonRenderer
from llmos.cli.render import HumanRenderer
from llmos.events import (
    Notice,
    PlanMade,
    PlannedSubtask,
    ScheduleFired,
    SubtaskFailed,
    SubtaskStarted,
    WatchdogFired,
)
from llmos.outcome import FailureKind

PLAN = PlanMade(
    task_id="t-1",
    subtasks=(PlannedSubtask(id="s1", agent="researcher", description="Find the facts"),),
)
FAILED = SubtaskFailed(
    task_id="t-1",
    subtask_id="s1",
    subtask_task_id="t-1.s1",
    error="HTTP 500 from the model server",
    failure=FailureKind.BACKEND_ERROR,
    attempt=1,
    attempts=2,
    retrying=True,
)
FIRED = WatchdogFired(task_id="t-1", setting="watchdog.stall_s", limit_s=30.0, what="no progress")
DUE = ScheduleFired(task_id="t-2", schedule_id="s-9", cron="0 9 * * *", goal="Send the report")


def console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200, highlight=False, soft_wrap=True), out


def test_the_human_renderer_shows_typed_warnings_on_stderr_and_keeps_info_quiet():
    (out, out_text), (err, err_text) = console(), console()
    render = HumanRenderer(out, err=err)
    for event in (
        PLAN,
        SubtaskStarted(
            task_id="t-1", subtask_id="s1", subtask_task_id="t-1.s1", agent="researcher"
        ),
        FAILED,
        FIRED,
    ):
        render(event)
    assert out_text.getvalue() == ""  # the plan and a start are info, as their notices were
    assert err_text.getvalue().splitlines() == [
        "  subtask s1 failed (attempt 1/2): HTTP 500 from the model server; retrying",
        "  watchdog: no progress (watchdog.stall_s); task cancelled; raise watchdog.stall_s in "
        "llmos.toml [watchdog] if the task needs longer",
    ]


def test_the_daemon_renderer_shows_schedules_and_warnings_but_not_the_plan():
    out, text = console()
    render = DaemonRenderer(out)
    for event in (PLAN, DUE, Notice(task_id="t-3", message="a quiet note"), FAILED):
        render(event)
    lines = [line.split(" ", 1)[1] for line in text.getvalue().splitlines()]  # drop the time
    assert lines == [
        "t-2 schedule s-9 (0 9 * * *) is due: Send the report",
        "t-1 subtask s1 failed (attempt 1/2): HTTP 500 from the model server; retrying",
    ]
