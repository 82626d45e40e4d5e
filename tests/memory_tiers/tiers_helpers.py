"""Shared pieces of the memory-tier tests: one event of every kind, a scripted llmos."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmos import LLMOS
from llmos.backends.scripted import ScriptedBackend
from llmos.config import load_settings
from llmos.events import (
    Event,
    HookDecided,
    ModeChosen,
    Notice,
    TaskFailed,
    TaskFinished,
    TaskStarted,
    TextStreamed,
    ToolCallFinished,
    ToolCallStarted,
    UsageUpdated,
)
from llmos.messages import Usage

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
