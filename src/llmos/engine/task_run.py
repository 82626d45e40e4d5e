"""One task in flight, as the dispatcher and the modes it runs hand it along.

Its own module, so the dispatcher can hold a run without importing the
Learner (a replay never needs it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from llmos.agents import Agent
from llmos.events import TaskMode
from llmos.hooks.trace_capture import TraceRecorder
from llmos.messages import Usage
from llmos.modes.acceptance import Action
from llmos.outcome import FailureKind
from llmos.runtime.task import TaskContext, TaskResult

if TYPE_CHECKING:
    from llmos.hooks.budget import CallBudget


@dataclass(kw_only=True)
class TaskRun:
    """One task in flight: its context, its recorder, and how it was asked to run."""

    task: TaskContext
    recorder: TraceRecorder
    started: float
    agent: Agent | None = None
    budget: CallBudget | None = None
    nested: bool = False
    #: A replayed step that ran without error but did not match the trace (a heal starts
    #: after it): its effects count when the run is judged, and the heal may need no call.
    diverged: Action | None = None
    #: What the run's model calls cost so far: a cancelled run reports and keeps it.
    cost_usd: float = 0.0
    usage: Usage = field(default_factory=Usage)

    def failed(
        self, mode: TaskMode, error: str, error_type: str, kind: FailureKind = FailureKind.ERROR
    ) -> TaskResult:
        return TaskResult.failure(
            task_id=self.task.task_id,
            goal=self.task.goal,
            mode=mode,
            kind=kind,
            message=error,
            error_type=error_type,
        )
