"""The orchestrator plugged into the engine.

:class:`NestedSubtasks` is the :class:`~llmos.modes.orchestrator.run.SubtaskRunner`
over the dispatcher's ``run``: each subtask runs as a full nested task (match,
follow or learn, trace saved) with its agent applied (prompt, tools, turn
limit, model) and its :class:`~llmos.modes.orchestrator.budget.SubtaskShare` in
place of admission, so it spends from the orchestration's reservation.
:func:`orchestrator_context` builds the whole context from the services.
"""

from __future__ import annotations

from collections.abc import Awaitable, Collection
from pathlib import Path
from typing import Protocol

from llmos.agents import Agent, AgentLibrary
from llmos.backends.base import Backend
from llmos.engine.services import Services
from llmos.errors import ConfigError
from llmos.events import RequestedMode
from llmos.hooks.budget import CallBudget
from llmos.modes.orchestrator.budget import SubtaskShare
from llmos.modes.orchestrator.run import OrchestratorContext
from llmos.runtime.task import TaskResult

SUBTASK_MODE: RequestedMode = (
    "auto"  # a subtask is followed when a trace matches, learned otherwise
)


class RunTask(Protocol):
    """:meth:`llmos.engine.dispatcher.Dispatcher.run`: one task to its end."""

    def __call__(
        self,
        goal: str,
        *,
        mode: RequestedMode | None = None,
        cwd: Path | None = None,
        task_id: str | None = None,
        agent: Agent | None = None,
        budget: CallBudget | None = None,
        nested: bool = False,
    ) -> Awaitable[TaskResult]: ...


class NestedSubtasks:
    """Runs subtasks as nested tasks through ``run``, in ``cwd``.

    Example:
        >>> runner = NestedSubtasks(dispatcher.run, cwd=services.workdir)
        >>> result = await runner("Summarise notes.md", agent=writer, task_id="t-1.s1",
        ...                       budget=None)
    """

    def __init__(self, run: RunTask, *, cwd: Path | None = None) -> None:
        self.run = run
        self.cwd = cwd

    async def __call__(
        self, goal: str, *, agent: Agent, task_id: str, budget: SubtaskShare | None
    ) -> TaskResult:
        return await self.run(
            goal,
            mode=SUBTASK_MODE,
            cwd=self.cwd,
            task_id=task_id,
            agent=agent,
            budget=budget,
            nested=True,
        )


def orchestrator_context(
    services: Services,
    run: RunTask,
    *,
    cwd: Path | None = None,
    agents: AgentLibrary | None = None,
    concurrency: int = 3,
    retries: int = 1,
    subtask_budget_usd: float | None = None,
    tools: Collection[str] | None = None,
) -> OrchestratorContext:
    """Everything the orchestrator needs: the services, and ``run`` for its subtasks."""
    backend = services.backends.get()
    if not isinstance(backend, Backend):
        raise ConfigError(
            f"the orchestrator plans with a streaming backend; {backend.name} runs its own "
            "agent loop. Use --provider anthropic (or openai, local) for orchestration",
            key="provider",
        )
    settings = services.settings
    project = services.project
    if project is not None:
        project.ensure()
    return OrchestratorContext(
        backend=backend,
        run_subtask=NestedSubtasks(run, cwd=cwd),
        bus=services.bus,
        agents=agents or services.agents(),
        state_dir=services.state_dir,
        store=services.library.home,
        tools=list(tools if tools is not None else services.tools.names()),
        economy=services.economy,
        project=project.name if project else None,
        concurrency=concurrency,
        retries=retries,
        subtask_budget_usd=subtask_budget_usd,
        max_tokens=settings.learner.max_tokens,
        follow_threshold=settings.follower.follow_threshold,
        guide_threshold=settings.follower.guide_threshold,
        max_failures=settings.follower.max_failures,
    )
