"""The long-lived parts a task runs with, built once per instance, and its built-in hooks.

:class:`Services` is what the dispatcher, the learning run and the
orchestrator wiring read: the settings, the workspace and project, the bus and
hook pipeline, the tools, the trace and fact libraries, the economy, the memory
injector, the learning locks and the one :class:`BackendFactory`, and it
builds task contexts over them. Each part takes only what it needs from it,
so none of them holds the dispatcher.
:func:`register_builtin_hooks` is the one place that puts llmos's own hooks in
the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llmos.agents import AgentLibrary
from llmos.backends.factory import BackendFactory
from llmos.config import Settings, ToolsConfig
from llmos.economy import DEFAULT_PRICES, TokenEconomy
from llmos.events import TaskMode
from llmos.hooks.builtin import check_disabled, install_builtin_hooks
from llmos.hooks.memory import MemoryInjector
from llmos.hooks.pipeline import Hook, HookPipeline
from llmos.memory.facts import FactLibrary
from llmos.memory.library import TraceLibrary
from llmos.messages import Usage
from llmos.projects import Project
from llmos.runtime.bus import EventBus
from llmos.runtime.single_flight import LearningLocks
from llmos.runtime.task import TaskContext
from llmos.runtime.watchdog import Watchdog
from llmos.tools.base import Isolation, ToolContext, ToolRegistry
from llmos.workspace import Workspace


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    """Everything a task needs that outlives it; build it with :meth:`build`."""

    settings: Settings
    workspace: Workspace
    project: Project | None
    bus: EventBus
    hooks: HookPipeline
    tools: ToolRegistry
    backends: BackendFactory
    economy: TokenEconomy
    library: TraceLibrary
    facts: FactLibrary
    #: Facts and near traces added to each prompt; None when ``memory`` is switched off.
    injector: MemoryInjector | None
    #: Single-flight learning, across every process sharing the library's folder.
    learning: LearningLocks

    @classmethod
    def build(
        cls,
        *,
        settings: Settings,
        workspace: Workspace,
        project: Project | None,
        bus: EventBus,
        hooks: HookPipeline,
        tools: ToolRegistry,
        backends: BackendFactory,
    ) -> Services:
        """The economy, libraries, injector and locks of ``workspace`` (and ``project``)."""
        library = TraceLibrary.for_workspace(workspace, project, starter=settings.library.starter)
        facts = FactLibrary.for_workspace(workspace, project)
        injector = None
        if "memory" not in check_disabled(settings):
            follower = settings.follower
            injector = MemoryInjector(
                facts,
                library,
                max_tokens=settings.memory.inject_max_tokens,
                follow_threshold=follower.follow_threshold,
                guide_threshold=follower.guide_threshold,
            )
        return cls(
            settings=settings,
            workspace=workspace,
            project=project,
            bus=bus,
            hooks=hooks,
            tools=tools,
            backends=backends,
            economy=TokenEconomy.from_settings(
                settings, prices=DEFAULT_PRICES.with_overrides(settings.prices)
            ),
            library=library,
            facts=facts,
            injector=injector,
            learning=LearningLocks(library.home.root.parent / "learning"),
        )

    @property
    def workdir(self) -> Path:
        """Where tasks work unless told otherwise: the user's folder (``--cwd``)."""
        return self.settings.cwd

    @property
    def state_dir(self) -> Path:
        """Where orchestrations keep their state, for resume."""
        return self.project.state if self.project else self.workspace.state

    def task_context(
        self,
        task_id: str,
        goal: str,
        cwd: Path | None,
        hooks: HookPipeline,
        tools: ToolRegistry,
        *,
        root: Path | None = None,
        limits: ToolsConfig | None = None,
        isolation: Isolation | None = None,
        mode: TaskMode = "auto",
    ) -> TaskContext:
        """A task's context in ``cwd`` (default: the user's folder), with these hooks and tools."""
        workdir = (cwd or self.workdir).absolute()
        workdir.mkdir(parents=True, exist_ok=True)
        return TaskContext(
            task_id=task_id,
            goal=goal,
            bus=self.bus,
            hooks=hooks,
            tools=tools,
            tool_ctx=ToolContext(
                cwd=workdir,
                workspace=root or self.workspace.root,
                settings=limits or self.settings.tools,
                isolation=isolation,
            ),
            price=_no_charge,
            mode=mode,
        )

    def agents(self) -> AgentLibrary:
        """The agents tasks may use: the project's, then the workspace's."""
        return AgentLibrary.for_folders(
            self.project.agents if self.project else None, self.workspace.agents
        )


async def _no_charge(model: str, usage: Usage) -> float:
    """The pricer outside a Learner run: nothing is charged (replay calls no model)."""
    return 0.0


def register_builtin_hooks(
    pipeline: HookPipeline,
    settings: Settings,
    *,
    watchdog: Watchdog,
    injector: MemoryInjector | None,
) -> tuple[Hook, ...]:
    """Put llmos's shared hooks in ``pipeline``, ahead of plugin hooks; returns them.

    In order: the security policy (unless switched off), the watchdog's
    model-call observers, memory injection (when ``injector`` is given). The
    per-task hooks are added to each task's own copy of the pipeline where the
    task starts: the trace recorder by the dispatcher, the budget guard by the
    learning run.
    """
    before = pipeline.hooks
    install_builtin_hooks(pipeline, settings)
    for hook in watchdog.hooks():
        pipeline.register(hook)
    if injector is not None:
        pipeline.register(injector.hook())
    return pipeline.hooks[len(before) :]
