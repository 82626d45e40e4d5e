"""The orchestrator plugged into a :class:`~llmos.kernel.dispatcher.Dispatcher`.

:class:`DispatcherSubtasks` is the :class:`~llmos.modes.orchestrator.SubtaskRunner`
over a real dispatcher: each subtask runs as a full task (match, follow or
learn, trace saved) by a child dispatcher that shares the parent's bus, hooks,
workspace and backend, with the agent applied:

- its prompt appended to the Learner's instructions, its turn limit;
- only its tools in the registry (for learning and for replay alike);
- its model (a backend of its own) unless the model is ``inherit``;
- the subtask's :class:`~llmos.modes.orchestration_budget.SubtaskShare` in place
  of the dispatcher's own admission, so it spends from the orchestration's
  reservation.

Until the dispatcher takes an agent and a budget guard itself, the child
overrides its ``_admit`` step (the one place it opens a reservation).
:func:`orchestrator_context` builds the whole context for a dispatcher.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from llmos.agents import INHERIT, Agent, AgentLibrary
from llmos.backends.base import AgentBackend, Backend
from llmos.backends.factory import create_backend
from llmos.config import Settings
from llmos.errors import ConfigError
from llmos.hooks.budget import BudgetGuard
from llmos.kernel.dispatcher import Dispatcher, TaskResult
from llmos.kernel.task import TaskContext
from llmos.modes.orchestration_budget import SubtaskShare
from llmos.modes.orchestrator import OrchestratorContext
from llmos.projects import Project
from llmos.tools.base import ToolRegistry

SUBTASK_MODE = "auto"  # a subtask is followed when a trace matches, learned otherwise


class _AgentDispatcher(Dispatcher):
    """A dispatcher whose tasks draw on the orchestration's reservation when given a share."""

    def __init__(self, *, shares: dict[str, SubtaskShare], **kwargs) -> None:
        super().__init__(**kwargs)
        self._shares = shares

    async def _admit(self, task: TaskContext, mode: str, model: str) -> BudgetGuard:
        share = self._shares.get(task.task_id)
        if share is not None:
            return share  # type: ignore[return-value]  # same interface as BudgetGuard
        return await super()._admit(task, mode, model)


def agent_settings(settings: Settings, agent: Agent) -> Settings:
    """The parent's settings with the agent's prompt, turn limit and model applied."""
    learner = settings.learner
    prompt = "\n\n".join(p for p in (learner.system_prompt.strip(), agent.prompt.strip()) if p)
    learner = learner.model_copy(
        update={"system_prompt": prompt, "max_turns": agent.max_turns or learner.max_turns}
    )
    update: dict[str, object] = {"learner": learner, "mode": SUBTASK_MODE}
    if agent.model != INHERIT:
        update["model"] = agent.model
    return settings.model_copy(update=update)


def agent_tools(tools: ToolRegistry, agent: Agent) -> ToolRegistry:
    """The registry restricted to the agent's tools (all of them when it names none).

    Raises:
        ConfigError: the agent names a tool that is not registered.
    """
    if agent.tools is None:
        return tools
    missing = sorted(set(agent.tools) - set(tools.names()))
    if missing:
        where = f" ({agent.path})" if agent.path else ""
        raise ConfigError(
            f"agent {agent.name}{where} uses unknown tool(s) {', '.join(missing)}; "
            f"known tools: {', '.join(sorted(tools.names()))}"
        )
    return ToolRegistry(tool for tool in tools if tool.name in agent.tools)


class DispatcherSubtasks:
    """Runs subtasks through child dispatchers of ``parent``, one per agent (kept for reuse).

    Example:
        >>> runner = DispatcherSubtasks(dispatcher, cwd=project.output)
        >>> result = await runner("Summarise notes.md", agent=writer, task_id="t-1.s1",
        ...                       budget=None)
    """

    def __init__(self, parent: Dispatcher, *, cwd: Path | None = None) -> None:
        self.parent = parent
        self.cwd = cwd
        self._children: dict[str, tuple[Agent, _AgentDispatcher]] = {}
        self._shares: dict[str, SubtaskShare] = {}

    def _backend_factory(self, settings: Settings, agent: Agent):
        if agent.model == INHERIT:
            return self.parent.backend

        def build() -> Backend | AgentBackend:
            return create_backend(settings)

        return build

    def child(self, agent: Agent) -> Dispatcher:
        """The dispatcher that runs ``agent``'s subtasks (rebuilt when the agent changed)."""
        known = self._children.get(agent.name)
        if known is not None and known[0] == agent:
            return known[1]
        settings = agent_settings(self.parent.settings, agent)
        child = _AgentDispatcher(
            shares=self._shares,
            settings=settings,
            workspace=self.parent.workspace,
            bus=self.parent.bus,
            hooks=self.parent.hooks,
            tools=agent_tools(self.parent.tools, agent),
            backend_factory=self._backend_factory(settings, agent),
        )
        self._children[agent.name] = (agent, child)
        return child

    async def __call__(
        self, goal: str, *, agent: Agent, task_id: str, budget: SubtaskShare | None
    ) -> TaskResult:
        child = self.child(agent)
        if budget is not None:
            self._shares[task_id] = budget
        try:
            return await child.run(goal, mode=SUBTASK_MODE, cwd=self.cwd, task_id=task_id)
        finally:
            self._shares.pop(task_id, None)

    async def aclose(self) -> None:
        """Close the backends the children built for agents with a model of their own."""
        for agent, child in self._children.values():
            if agent.model != INHERIT:
                await child.aclose()
        self._children.clear()


def orchestrator_context(
    dispatcher: Dispatcher,
    *,
    project: Project | None = None,
    agents: AgentLibrary | None = None,
    concurrency: int = 3,
    retries: int = 1,
    subtask_budget_usd: float | None = None,
    tools: Collection[str] | None = None,
) -> OrchestratorContext:
    """Everything the orchestrator needs, from a dispatcher (and the current project)."""
    workspace = dispatcher.workspace
    backend = dispatcher.backend()
    if not isinstance(backend, Backend):
        raise ConfigError(
            f"the orchestrator plans with a streaming backend; {backend.name} runs its own "
            "agent loop. Use --provider anthropic (or openai, local) for orchestration"
        )
    settings = dispatcher.settings
    if project is not None:
        project.ensure()
    return OrchestratorContext(
        backend=backend,
        run_subtask=DispatcherSubtasks(dispatcher, cwd=project.output if project else None),
        bus=dispatcher.bus,
        agents=agents
        or AgentLibrary.for_folders(project.agents if project else None, workspace.agents),
        state_dir=project.state if project else workspace.root / "state",
        store=dispatcher.store,
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
