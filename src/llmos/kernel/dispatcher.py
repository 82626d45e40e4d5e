"""The dispatcher: one task in, the right mode chosen, one result out.

It asks memory for the best trace and its confidence, picks Follower,
guided Learner or Learner, runs the mode, saves what was learned and
publishes the task's first and last events. Nothing here prints.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from llmos.backends.base import AgentBackend, Backend
from llmos.config import Settings
from llmos.errors import ConfigError, LLMOSError
from llmos.events import ModeChosen, TaskFailed, TaskFinished, TaskStarted
from llmos.hooks.pipeline import HookInput, HookPipeline
from llmos.hooks.trace_capture import TraceRecorder
from llmos.kernel.bus import EventBus
from llmos.kernel.task import Pricer, TaskContext, new_task_id
from llmos.messages import Usage
from llmos.modes.learner import LearnerSettings, run_learner
from llmos.tools.base import ToolContext, ToolRegistry, ToolSettings
from llmos.workspace import Workspace


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


def tool_settings(settings: Settings) -> ToolSettings:
    cfg = settings.tools
    return ToolSettings(
        bash_timeout_s=cfg.bash_timeout,
        model_output_chars=cfg.model_output_chars,
        trace_output_chars=cfg.trace_output_chars,
        read_max_lines=cfg.read_max_lines,
        webfetch_allow=tuple(cfg.webfetch_allow),
        webfetch_timeout_s=cfg.webfetch_timeout,
        sandbox=cfg.sandbox,
        sandbox_network=cfg.sandbox_network,
    )


class Dispatcher:
    """Runs tasks; the backend is only built when a mode needs the LLM."""

    def __init__(
        self,
        *,
        settings: Settings,
        workspace: Workspace,
        bus: EventBus,
        hooks: HookPipeline,
        tools: ToolRegistry,
        backend_factory: Callable[[], Backend | AgentBackend],
        price: Pricer,
    ) -> None:
        self.settings = settings
        self.workspace = workspace
        self.bus = bus
        self.hooks = hooks
        self.tools = tools
        self._backend_factory = backend_factory
        self._backend: Backend | AgentBackend | None = None
        self.price = price

    @property
    def backend_built(self) -> bool:
        return self._backend is not None

    def backend(self) -> Backend | AgentBackend:
        if self._backend is None:
            self._backend = self._backend_factory()
        return self._backend

    async def aclose(self) -> None:
        if self._backend is not None:
            await self._backend.aclose()
            self._backend = None

    def _context(
        self, task_id: str, goal: str, cwd: Path | None, hooks: HookPipeline
    ) -> TaskContext:
        workdir = (cwd or self.workspace.output).absolute()
        workdir.mkdir(parents=True, exist_ok=True)
        return TaskContext(
            task_id=task_id,
            goal=goal,
            bus=self.bus,
            hooks=hooks,
            tools=self.tools,
            tool_ctx=ToolContext(
                cwd=workdir, workspace=self.workspace.root, settings=tool_settings(self.settings)
            ),
            price=self.price,
        )

    async def run(
        self,
        goal: str,
        *,
        mode: str | None = None,
        cwd: Path | None = None,
        task_id: str | None = None,
    ) -> TaskResult:
        """Run one task to its end. Errors become a failed result, never an exception."""
        task_id = task_id or new_task_id()
        mode = mode or self.settings.mode
        started = time.perf_counter()
        await self.bus.publish(
            TaskStarted(task_id=task_id, goal=goal, mode=mode, workspace=str(self.workspace.root))
        )
        recorder = TraceRecorder(task_id)
        task = self._context(task_id, goal, cwd, self.hooks.extended(recorder.hook()))
        try:
            await task.hooks.notify(HookInput(event="TaskStart", ctx=task.hook_ctx()))
            result = await self._learn(task, recorder)
        except asyncio.CancelledError:
            await self._finish_failed(task, "cancelled", "Cancelled", started)
            raise
        except ConfigError as exc:
            await self._finish_failed(task, str(exc), type(exc).__name__, started)
            raise
        except LLMOSError as exc:
            result = TaskResult(
                task_id=task_id,
                goal=goal,
                mode=mode,
                success=False,
                text="",
                error=str(exc),
                error_type=type(exc).__name__,
            )
        result = replace(result, duration_s=time.perf_counter() - started)
        await task.hooks.notify(
            HookInput(
                event="TaskEnd", ctx=task.hook_ctx(), text=result.text, success=result.success
            )
        )
        await self._publish_end(result)
        return result

    async def _learn(self, task: TaskContext, recorder: TraceRecorder) -> TaskResult:
        backend = self.backend()
        await task.publish(
            ModeChosen(
                task_id=task.task_id,
                mode="learner",
                reason="no saved trace matches this goal",
                backend=backend.name,
                model=backend.model,
            )
        )
        cfg = self.settings.learner
        outcome = await run_learner(
            task,
            backend,
            LearnerSettings(
                max_turns=cfg.max_turns,
                max_tokens=cfg.max_tokens,
                extra_instructions=cfg.system_prompt,
            ),
        )
        await task.hooks.notify(
            HookInput(event="Stop", ctx=task.hook_ctx(), text=outcome.text, success=outcome.success)
        )
        return TaskResult(
            task_id=task.task_id,
            goal=task.goal,
            mode="learner",
            success=outcome.success,
            text=outcome.text,
            cost_usd=outcome.cost_usd,
            usage=outcome.usage,
            error=outcome.error,
            error_type=outcome.error_type,
        )

    async def _finish_failed(
        self, task: TaskContext, error: str, kind: str, started: float
    ) -> None:
        await asyncio.shield(
            self.bus.publish(
                TaskFailed(
                    task_id=task.task_id,
                    error=error,
                    error_type=kind,
                    duration_s=time.perf_counter() - started,
                )
            )
        )

    async def _publish_end(self, result: TaskResult) -> None:
        if result.success:
            event = TaskFinished(
                task_id=result.task_id,
                mode=result.mode,
                success=True,
                text=result.text,
                cost_usd=result.cost_usd,
                saved_usd=result.saved_usd,
                duration_s=result.duration_s,
                usage=result.usage,
                trace_id=result.trace_id,
            )
        else:
            event = TaskFailed(
                task_id=result.task_id,
                error=result.error or "the task failed",
                error_type=result.error_type or "TaskFailed",
                mode=result.mode,
                cost_usd=result.cost_usd,
                duration_s=result.duration_s,
                trace_id=result.trace_id,
            )
        await self.bus.publish(event)
