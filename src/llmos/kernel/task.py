"""A task while it runs: its identity, where it works, the services it uses, its result."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from llmos.errors import BudgetExceeded
from llmos.events import Event
from llmos.hooks.pipeline import Hook, HookContext, HookPipeline
from llmos.kernel.bus import EventBus
from llmos.messages import Usage
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
    mode: str = "learner"

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
    """What a task came to: the mode that ran it, its answer, cost and trace."""

    task_id: str
    goal: str
    mode: str
    success: bool
    text: str
    cost_usd: float = 0.0
    saved_usd: float = 0.0
    duration_s: float = 0.0
    usage: Usage = field(default_factory=Usage)
    trace_id: str | None = None
    error: str | None = None
    error_type: str | None = None


class TaskBudget(Protocol):
    """A Learner run's money: a reservation, the hook that polices each call, charges.

    :class:`~llmos.hooks.budget.BudgetGuard` is the usual one; an orchestration
    hands its subtasks shares of its own reservation instead.
    """

    refusal: BudgetExceeded | None

    def hook(self) -> Hook: ...

    def charge(self, *, model: str, usage: Usage, mode: str | None = None) -> float: ...

    def release(self) -> float: ...
