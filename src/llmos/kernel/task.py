"""A task while it runs: its identity, where it works and the services it uses."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from llmos.events import Event
from llmos.hooks.pipeline import HookContext, HookPipeline
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
