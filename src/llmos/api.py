"""The Python API: what the CLI, the shell and the server call, and what embedders use.

Example:
    async with LLMOS(workspace="ws", provider="scripted", script="s.json") as llmos:
        result = await llmos.execute("Create hello.txt")
        print(result.mode, result.success, result.cost_usd)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmos.backends.base import AgentBackend, Backend
from llmos.backends.factory import BackendFactory
from llmos.config import PermissionMode, Settings, load_settings
from llmos.economy import TokenEconomy
from llmos.engine.dispatcher import Dispatcher
from llmos.engine.services import Services, register_builtin_hooks
from llmos.engine.verify import VerifyResult, verify
from llmos.errors import ConfigError
from llmos.events import Event, Notice, RequestedMode, TaskFailed, TaskFinished
from llmos.hooks.pipeline import AskHandler, Hook, HookPipeline
from llmos.memory import MatchResult, Trace
from llmos.memory.library import TraceLibrary
from llmos.memory.session_log import SessionLog
from llmos.outcome import FailureKind
from llmos.plugins import Extensions
from llmos.projects import Project, Projects
from llmos.runtime.bus import EventBus
from llmos.runtime.task import TaskResult, new_task_id
from llmos.runtime.watchdog import Watchdog, cancellation_reason
from llmos.tools import default_registry
from llmos.workspace import Workspace

if TYPE_CHECKING:  # imported by scheduler(), which a task does not need
    from llmos.runtime.scheduler import Scheduler, Submission


class LLMOS:
    """One llmos instance over a state folder (the llmos home unless ``workspace`` says
    otherwise), working in ``cwd`` (the current folder by default); long-lived parts
    live between tasks.

    ``backend`` may be given directly (tests, embedding); otherwise it is
    built from the settings the first time a task needs the LLM, so a pure
    Follower replay never constructs one.
    """

    def __init__(
        self,
        workspace: str | Path | None = None,
        *,
        cwd: str | Path | None = None,
        provider: str | None = None,
        model: str | None = None,
        budget_usd: float | None = None,
        settings: Settings | None = None,
        backend: Backend | AgentBackend | None = None,
        ask: AskHandler | None = None,
        **overrides: Any,
    ) -> None:
        if settings is None:
            flags = {"provider": provider, "model": model, "budget.total_usd": budget_usd}
            flags.update({key.replace("__", "."): value for key, value in overrides.items()})
            settings = load_settings(workspace=workspace, cwd=cwd, overrides=flags)
        self.settings = settings
        self.workspace = Workspace(settings.workspace)
        self.bus = EventBus()
        self.hooks = HookPipeline(self.bus, _asker(settings.security.permission_mode, ask))
        self.tools = default_registry()
        self.session_log = SessionLog(self.workspace.sessions)
        self.bus.subscribe(self.session_log)
        self.extensions = Extensions(
            self.workspace, settings.mcp.servers, env_policy=settings.tools.env
        )
        self.watchdog = Watchdog.from_limits(self.bus, settings.watchdog)
        self._given_backend = backend
        self._services: Services | None = None
        self._dispatcher: Dispatcher | None = None
        self._builtin_hooks: tuple[Hook, ...] = ()

    async def boot(self) -> LLMOS:
        """Build the long-lived services (idempotent). Nothing is created on disk here:
        each store makes its files when it first writes, so a run that only reads (a
        dry run, a match) leaves a fresh home as it found it."""
        if self._dispatcher is None:
            services = Services.build(
                settings=self.settings,
                workspace=self.workspace,
                project=Projects(self.workspace).resolve(
                    self.settings.project, self.settings.project_dir
                ),
                bus=self.bus,
                hooks=self.hooks,
                tools=self.tools,
                backends=BackendFactory(self.settings, self.tools, given=self._given_backend),
            )
            self._builtin_hooks = register_builtin_hooks(
                self.hooks, self.settings, watchdog=self.watchdog, injector=services.injector
            )
            report = await self.extensions.install(self.tools, self.hooks)
            for problem in report.problems:
                await self.bus.publish(
                    Notice(task_id="", level="warning", message=f"skipped: {problem}")
                )
            self.watchdog.start()
            self._services = services
            self._dispatcher = Dispatcher(services)
        return self

    async def shutdown(self) -> None:
        """Close the backends and release resources; safe to call twice."""
        if self._services is not None:
            await asyncio.shield(self._services.backends.aclose())
            self._services = self._dispatcher = None
        for hook in self._builtin_hooks:  # a later boot registers its own
            self.hooks.unregister(hook.name)
        self._builtin_hooks = ()
        await asyncio.shield(self.extensions.aclose())
        await self.watchdog.stop()
        self.session_log.close()

    async def __aenter__(self) -> LLMOS:
        return await self.boot()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.shutdown()

    @property
    def services(self) -> Services:
        """The long-lived parts (settings, libraries, economy, backends) once booted."""
        if self._services is None:
            raise ConfigError("call boot() (or use `async with LLMOS(...)`) before running tasks")
        return self._services

    @property
    def dispatcher(self) -> Dispatcher:
        """The engine's mode chooser, once booted (edges use the methods below instead)."""
        if self._dispatcher is None:
            raise ConfigError("call boot() (or use `async with LLMOS(...)`) before running tasks")
        return self._dispatcher

    # ------------------------------------------------------- what the edges read

    @property
    def project(self) -> Project | None:
        """The project goals work in (its output, memory and agents), or None; once booted."""
        return self.services.project

    def traces(self) -> TraceLibrary:
        """The trace library tasks match against and save to (the project's first)."""
        return self.services.library

    def budget(self) -> TokenEconomy:
        """The token economy: the budget, the ledger, the prices."""
        return self.services.economy

    def backend_model(self) -> str | None:
        """The model of the task backend if one was built (a replay builds none), else None."""
        backends = self.services.backends
        return backends.get().model if backends.built else None

    async def prepare_state(self) -> None:
        """Make the state folder's layout before tasks write to it: a folder that cannot be
        made (read-only, a file in the way) is one clear error before any work starts."""
        await asyncio.to_thread(self.workspace.ensure)

    def scheduler(self, *, concurrency: int) -> Scheduler:
        """A scheduler that runs submissions as tasks, under llmos's watchdog.

        A submission works in its own folder if it names one, else in the instance's.
        """

        def run(sub: Submission) -> Awaitable[TaskResult]:
            return self.dispatcher.run(sub.goal, mode=sub.mode, cwd=sub.cwd, task_id=sub.task_id)

        from llmos.runtime.scheduler import Scheduler

        return Scheduler(run, concurrency=concurrency, bus=self.bus, watchdog=self.watchdog)

    async def execute(
        self,
        goal: str,
        *,
        mode: RequestedMode | None = None,
        cwd: str | Path | None = None,
        task_id: str | None = None,
        context: str = "",
    ) -> TaskResult:
        """Run one task to its end and return its result (errors are in the result).

        ``context`` is input given beside the goal (text piped to the CLI): the
        Learner sees it in its prompt, and such a task is never followed from a
        trace. The watchdog guards the task: one that runs too long or stalls
        is cancelled cleanly and fails with ``WatchdogTimeout`` naming the limit.
        """
        await self.boot()
        await self.prepare_state()
        task_id = task_id or new_task_id()
        current = asyncio.current_task()
        self.watchdog.watch(task_id, current)
        try:
            return await self.dispatcher.run(
                goal,
                mode=mode,
                cwd=Path(cwd) if cwd is not None else None,
                task_id=task_id,
                context=context,
            )
        except asyncio.CancelledError as exc:
            why = cancellation_reason(exc)
            if why.kind is not FailureKind.WATCHDOG or current is None:
                raise  # Ctrl-C or a caller's cancel: theirs to handle
            current.uncancel()  # the watchdog's cancel ends this task only, as a failure
            return TaskResult.failure(
                task_id=task_id,
                goal=goal,
                mode=mode or self.settings.mode,
                kind=why.kind,
                message=why.message,
                error_type=why.error_type,
            )
        finally:
            self.watchdog.unwatch(task_id)

    async def resume(self, task_id: str) -> TaskResult:
        """Continue an interrupted orchestration from its saved state."""
        await self.boot()
        return await self.dispatcher.resume(task_id)

    async def match(self, goal: str) -> MatchResult:
        """What llmos would do with ``goal`` (follow, guide or learn), executing nothing."""
        await self.boot()
        return await self.dispatcher.match(goal)

    async def verify(self, trace_id: str) -> VerifyResult:
        """Replay a trace in a throwaway copy of the workspace and say whether it holds."""
        await self.boot()
        return await verify(self.services, trace_id)

    async def reject(self, trace_id: str, reason: str) -> Trace:
        """Say a trace's result was wrong: it is failed (``rejected``) and never followed again."""
        await self.boot()
        return await asyncio.to_thread(self.traces().reject, trace_id, reason)

    async def promote(self, trace_id: str, note: str = "") -> Trace:
        """Vouch for an unverified trace after checking its result: it becomes replayable."""
        await self.boot()
        return await asyncio.to_thread(self.traces().promote, trace_id, note)

    async def stream(
        self, goal: str, *, mode: RequestedMode | None = None, cwd: str | Path | None = None
    ) -> AsyncIterator[Event]:
        """Run one task and yield its events as they happen, ending with its last."""
        await self.boot()
        task_id = new_task_id()
        async with self.bus.stream(task_id) as queue:
            runner = asyncio.create_task(self.execute(goal, mode=mode, cwd=cwd, task_id=task_id))
            try:
                while True:
                    event = await queue.get()
                    yield event
                    if isinstance(event, TaskFinished | TaskFailed):
                        break
                await runner
            finally:
                if not runner.done():
                    runner.cancel()

    def subscribe(self, subscriber: Callable[[Event], Any]) -> Callable[[], None]:
        return self.bus.subscribe(subscriber)

    def run(self, goal: str, *, mode: RequestedMode | None = None) -> TaskResult:
        """Synchronous :meth:`execute` for scripts; refuses inside a running loop."""
        return run_sync(self._run_once(goal, mode))

    async def _run_once(self, goal: str, mode: RequestedMode | None) -> TaskResult:
        try:
            return await self.execute(goal, mode=mode)
        finally:
            await self.shutdown()


async def _approve(tool: str, reason: str) -> bool:
    return True


def _asker(mode: PermissionMode, ask: AskHandler | None) -> AskHandler | None:
    """Who answers an ``ask`` decision under ``[security] permission_mode``.

    ``deny``: nobody (every ask is denied); ``accept``: approved without
    asking; ``default``: ``ask`` (the CLI passes one only on a terminal).
    """
    if mode == "deny":
        return None
    if mode == "accept":
        return _approve
    return ask


def run_sync(coro):
    """Run a coroutine from sync code, with guidance when a loop is already running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise ConfigError(
        "LLMOS.run() cannot be called inside a running event loop; use `await llmos.execute(...)`"
    )
