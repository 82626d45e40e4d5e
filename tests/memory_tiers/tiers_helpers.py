"""Shared pieces of the memory-tier tests: one event of every kind, a scripted llmos."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmos import LLMOS
from llmos.backends.scripted import ScriptedBackend
from llmos.config import load_settings
from llmos.events import (
    ContextCompacted,
    Event,
    Healed,
    HookDecided,
    ModeChosen,
    Notice,
    PlanMade,
    PlannedSubtask,
    ReplayDiverged,
    ScheduleFired,
    ScheduleSkipped,
    SubtaskFailed,
    SubtaskFinished,
    SubtaskSkipped,
    SubtaskStarted,
    TaskFailed,
    TaskFinished,
    TaskQueued,
    TaskStarted,
    TextStreamed,
    ToolCallFinished,
    ToolCallStarted,
    UsageUpdated,
    WatchdogFired,
)
from llmos.messages import Usage
from llmos.outcome import FailureKind

WRITE_HELLO = [
    {"tool_calls": [{"name": "Write", "input": {"file_path": "hello.txt", "content": "hi\n"}}]},
    {"text": "hello.txt is written."},
]


def every_kind(task_id: str, *, failed: bool = False) -> list[Event]:
    """One event of each kind for a task, ending in success or failure."""
    usage = Usage(input_tokens=120, output_tokens=30)
    events: list[Event] = [
        TaskStarted(
            task_id=task_id, goal=f"Goal of {task_id} — with ünïcode", mode="auto", workspace="/ws"
        ),
        ModeChosen(
            task_id=task_id, mode="learner", reason="no saved trace", backend="scripted", model="m"
        ),
        TextStreamed(task_id=task_id, text="Writing "),
        TextStreamed(task_id=task_id, text="the file.\n"),
        ToolCallStarted(
            task_id=task_id,
            call_id="c1",
            tool="Write",
            input={"file_path": "a.txt", "content": "x\ny"},
        ),
        ToolCallFinished(
            task_id=task_id,
            call_id="c1",
            tool="Write",
            is_error=False,
            output="wrote 3 bytes",
            duration_ms=1.5,
        ),
        UsageUpdated(task_id=task_id, model="m", usage=usage, cost_usd=0.002, total_cost_usd=0.002),
        HookDecided(
            task_id=task_id,
            hook="security",
            event="PreToolUse",
            decision="deny",
            reason="rm -rf / is destructive",
            tool="Bash",
        ),
        Notice(task_id=task_id, message="sandbox missing", level="warning"),
        PlanMade(
            task_id=task_id,
            subtasks=(
                PlannedSubtask(id="s1", agent="researcher", description="Find"),
                PlannedSubtask(id="s2", agent="writer", description="Write", depends_on=("s1",)),
            ),
        ),
        SubtaskStarted(
            task_id=task_id, subtask_id="s1", subtask_task_id=f"{task_id}.s1", agent="researcher"
        ),
        SubtaskFinished(
            task_id=task_id,
            subtask_id="s1",
            subtask_task_id=f"{task_id}.s1",
            mode="learner",
            trace_id="abc123abc123",
            cost_usd=0.001,
        ),
        SubtaskFailed(
            task_id=task_id,
            subtask_id="s2",
            subtask_task_id=f"{task_id}.s2",
            error="HTTP 500",
            failure=FailureKind.BACKEND_ERROR,
            attempt=1,
            attempts=1,
            retrying=False,
        ),
        SubtaskSkipped(task_id=task_id, subtask_id="s3", reason="depends on s2, which failed"),
        ReplayDiverged(
            task_id=task_id,
            trace_id="abc123abc123",
            step=2,
            tool="Bash",
            reason="exit code 1, learned 0",
            expected_error=False,
            seen_error=False,
            expected_exit_code=0,
            seen_exit_code=1,
        ),
        Healed(task_id=task_id, trace_id="abc123abc123", new_trace_id="def456def456"),
        ContextCompacted(
            task_id=task_id,
            folded_messages=6,
            summarised=True,
            tokens_before=9_000,
            tokens_after=2_000,
            context_window=10_000,
        ),
        WatchdogFired(
            task_id=task_id, setting="watchdog.stall_s", limit_s=600.0, what="no progress"
        ),
        TaskQueued(task_id=task_id, position=1, running=4, waiting=1, concurrency=4),
        ScheduleFired(task_id=task_id, schedule_id="s-1", cron="* * * * *", goal="Say hi"),
        ScheduleSkipped(task_id=task_id, schedule_id="s-1", cron="* * * * *"),
    ]
    if failed:
        events.append(
            TaskFailed(
                task_id=task_id,
                error="boom",
                error_type="MaxTurns",
                mode="learner",
                cost_usd=0.002,
                duration_s=0.5,
            )
        )
    else:
        events.append(
            TaskFinished(
                task_id=task_id,
                mode="learner",
                success=True,
                text="done",
                cost_usd=0.002,
                saved_usd=0.0,
                duration_s=0.5,
                usage=usage,
                trace_id="abc123abc123",
            )
        )
    return events


def scripted_llmos(
    workspace: Path, turns: list[dict[str, Any]], **overrides: Any
) -> tuple[LLMOS, ScriptedBackend]:
    """An llmos over ``workspace`` whose model plays ``turns``."""
    backend = ScriptedBackend(turns)
    settings = load_settings(workspace=workspace, overrides=overrides)
    return LLMOS(settings=settings, backend=backend), backend
