"""The orchestrator plugged into a :class:`~llmos.engine.dispatcher.Dispatcher`.

:class:`DispatcherSubtasks` is the :class:`~llmos.modes.orchestrator.run.SubtaskRunner`
over a real dispatcher: each subtask runs as a full nested task (match, follow
or learn, trace saved) with its agent applied (prompt, tools, turn limit,
model) and its :class:`~llmos.modes.orchestrator.budget.SubtaskShare` in place
of admission, so it spends from the orchestration's reservation.
:func:`orchestrator_context` builds the whole context for a dispatcher.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from llmos.agents import Agent, AgentLibrary
from llmos.backends.base import Backend
from llmos.errors import ConfigError
from llmos.modes.orchestrator.budget import SubtaskShare
from llmos.modes.orchestrator.run import OrchestratorContext
from llmos.runtime.task import TaskResult

if TYPE_CHECKING:
    from llmos.engine.dispatcher import Dispatcher

SUBTASK_MODE = "auto"  # a subtask is followed when a trace matches, learned otherwise


class DispatcherSubtasks:
    """Runs subtasks as nested tasks of ``dispatcher``, in ``cwd``.

    Example:
        >>> runner = DispatcherSubtasks(dispatcher, cwd=project.output)
        >>> result = await runner("Summarise notes.md", agent=writer, task_id="t-1.s1",
        ...                       budget=None)
    """

    def __init__(self, dispatcher: Dispatcher, *, cwd: Path | None = None) -> None:
        self.dispatcher = dispatcher
        self.cwd = cwd

    async def __call__(
        self, goal: str, *, agent: Agent, task_id: str, budget: SubtaskShare | None
    ) -> TaskResult:
        return await self.dispatcher.run(
            goal,
            mode=SUBTASK_MODE,
            cwd=self.cwd,
            task_id=task_id,
            agent=agent,
            budget=budget,
            nested=True,
        )


def orchestrator_context(
    dispatcher: Dispatcher,
    *,
    cwd: Path | None = None,
    agents: AgentLibrary | None = None,
    concurrency: int = 3,
    retries: int = 1,
    subtask_budget_usd: float | None = None,
    tools: Collection[str] | None = None,
) -> OrchestratorContext:
    """Everything the orchestrator needs, from a dispatcher (and its project)."""
    backend = dispatcher.backend()
    if not isinstance(backend, Backend):
        raise ConfigError(
            f"the orchestrator plans with a streaming backend; {backend.name} runs its own "
            "agent loop. Use --provider anthropic (or openai, local) for orchestration",
            key="provider",
        )
    settings = dispatcher.settings
    project = dispatcher.project
    if project is not None:
        project.ensure()
    return OrchestratorContext(
        backend=backend,
        run_subtask=DispatcherSubtasks(dispatcher, cwd=cwd),
        bus=dispatcher.bus,
        agents=agents or dispatcher.agents(),
        state_dir=dispatcher.state_dir,
        store=dispatcher.library.home,
        tools=list(tools if tools is not None else dispatcher.tools.names()),
        economy=dispatcher.economy,
        project=project.name if project else None,
        concurrency=concurrency,
        retries=retries,
        subtask_budget_usd=subtask_budget_usd,
        max_tokens=settings.learner.max_tokens,
        follow_threshold=settings.follower.follow_threshold,
        guide_threshold=settings.follower.guide_threshold,
        max_failures=settings.follower.max_failures,
    )
