"""A task while it runs: its identity, where it works, the services it uses, its result."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from llmos.events import Event, TaskMode, TraceScope
from llmos.hooks.inputs import HookContext
from llmos.hooks.pipeline import HookPipeline
from llmos.messages import Usage
from llmos.outcome import FailureKind, Outcome
from llmos.runtime.bus import EventBus
from llmos.tools.base import ToolContext, ToolRegistry

#: Charges a model's usage and returns its dollars; the economy supplies the real one.
Pricer = Callable[[str, Usage], Awaitable[float]]


def new_task_id() -> str:
    return "t-" + secrets.token_hex(5)


@dataclass(frozen=True, kw_only=True)
class TaskContext:
    """What every mode needs to run one task."""

    task_id: str
    goal: str
    bus: EventBus
    hooks: HookPipeline
    tools: ToolRegistry
    tool_ctx: ToolContext
    price: Pricer
    #: The mode asked for until the dispatcher chooses one, then the one it chose.
    mode: TaskMode = "auto"

    @property
    def cwd(self) -> Path:
        return self.tool_ctx.cwd

    def hook_ctx(self, *, replay: bool = False) -> HookContext:
        return HookContext(
            task_id=self.task_id,
            goal=self.goal,
            cwd=self.tool_ctx.cwd,
            workspace=self.tool_ctx.workspace,
            mode=self.mode,
            replay=replay,
        )

    async def publish(self, event: Event) -> None:
        await self.bus.publish(event)


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskResult:
    """What a task came to: the mode that ran it, its judged outcome, answer, cost and trace.

    ``error_type`` names the error or stop behind a failure (``MaxTurns``,
    ``BudgetExceeded`` …) for diagnostics; callers branch on ``outcome.kind``.
    """

    task_id: str
    goal: str
    mode: TaskMode
    outcome: Outcome
    text: str = ""
    cost_usd: float = 0.0
    saved_usd: float = 0.0
    duration_s: float = 0.0
    usage: Usage = field(default_factory=Usage)
    trace_id: str | None = None
    error_type: str | None = None
    #: ``starter`` when the task was followed from the starter library shipped with llmos.
    library: TraceScope | None = None

    @classmethod
    def failure(
        cls,
        *,
        task_id: str,
        goal: str,
        mode: TaskMode,
        kind: FailureKind,
        message: str,
        error_type: str | None = None,
    ) -> TaskResult:
        """A task that failed before (or instead of) a judged run."""
        return cls(
            task_id=task_id,
            goal=goal,
            mode=mode,
            outcome=Outcome.failed(kind, message),
            error_type=error_type,
        )

    @property
    def success(self) -> bool:
        """Judged to have done the job (``unverified`` is not a success)."""
        return self.outcome.ok

    @property
    def failed(self) -> bool:
        return self.outcome.is_failed

    @property
    def error(self) -> str | None:
        """Why the task failed, with what to try; None unless it failed."""
        return self.outcome.message or "the task failed" if self.outcome.is_failed else None
