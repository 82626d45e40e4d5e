"""The kernel scheduler: many tasks, a concurrency limit, fairness between projects.

Tasks wait in a priority queue (higher ``priority`` first). At equal
priority the projects take turns (round-robin), and within a project tasks
run in the order they came (FIFO), so one project that submits a hundred
tasks cannot starve another that submits one. At most ``concurrency`` tasks
run at a time, all in the one event loop. A queued task can be cancelled
without ever starting; a running one is cancelled with asyncio
cancellation, which the dispatcher turns into a clean failure (partial trace
kept, reservation released, ``TaskFailed`` published).

Example:
    scheduler = Scheduler(lambda s: dispatcher.run(s.goal, mode=s.mode, task_id=s.task_id),
                          concurrency=4, bus=bus)
    handle = await scheduler.submit("Create hello.txt", project="demo")
    result = await handle.result()
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from llmos.errors import ConfigError
from llmos.events import RequestedMode, TaskFailed, TaskQueued
from llmos.outcome import FailureKind
from llmos.runtime.bus import EventBus
from llmos.runtime.task import TaskResult, new_task_id
from llmos.runtime.watchdog import Cancellation, Watchdog, cancellation_reason

TaskStatus = Literal["queued", "running", "done", "failed", "cancelled"]

#: The project of tasks submitted without one; it takes its turn like any other.
DEFAULT_PROJECT = "default"
#: Finished tasks that :meth:`Scheduler.list` still shows.
FINISHED_KEPT = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class Submission:
    """One task as submitted: what the ``run`` callable receives."""

    task_id: str
    goal: str
    mode: RequestedMode | None
    project: str | None
    priority: int
    submitted_at: float
    #: The folder the task works in (None: the instance's).
    cwd: Path | None = None

    @property
    def project_key(self) -> str:
        return self.project or DEFAULT_PROJECT


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskInfo:
    """A task as :meth:`Scheduler.list` shows it."""

    task_id: str
    goal: str
    mode: RequestedMode | None
    project: str | None
    priority: int
    status: TaskStatus
    submitted_at: float
    started_at: float | None
    finished_at: float | None


class TaskHandle:
    """A submitted task: its status now, and its result when it ends."""

    def __init__(self, submission: Submission) -> None:
        self.submission = submission
        self.status: TaskStatus = "queued"
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._outcome: asyncio.Future[TaskResult] = asyncio.get_running_loop().create_future()
        self._cancel_reason: str | None = None  # asked for before the run began
        self._began = False

    @property
    def task_id(self) -> str:
        return self.submission.task_id

    def done(self) -> bool:
        return self._outcome.done()

    async def result(self) -> TaskResult:
        """The task's result; a cancelled task gives a failed result, not an exception.

        Raises what ``run`` raised when it raised something other than a task
        failure (a :class:`~llmos.errors.ConfigError`, typically).
        """
        return await asyncio.shield(self._outcome)

    def info(self) -> TaskInfo:
        sub = self.submission
        return TaskInfo(
            task_id=sub.task_id,
            goal=sub.goal,
            mode=sub.mode,
            project=sub.project,
            priority=sub.priority,
            status=self.status,
            submitted_at=sub.submitted_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
        )

    def _settle(
        self,
        status: TaskStatus,
        result: TaskResult | None = None,
        error: BaseException | None = None,
    ) -> None:
        self.status = status
        self.finished_at = time.time()
        if self._outcome.done():
            return
        if error is not None:
            self._outcome.set_exception(error)
        else:
            assert result is not None  # one of the two is always given
            self._outcome.set_result(result)


class FairQueue:
    """Highest priority first; round-robin across projects at one priority; FIFO within one.

    Each priority level keeps its projects in a dict used as the rotation
    order: the project at the front gives one task and moves to the back.
    """

    def __init__(self) -> None:
        self._levels: dict[int, dict[str, deque[Submission]]] = {}

    def __len__(self) -> int:
        return sum(len(q) for level in self._levels.values() for q in level.values())

    def push(self, sub: Submission) -> None:
        level = self._levels.setdefault(sub.priority, {})
        level.setdefault(sub.project_key, deque()).append(sub)

    def pop(self) -> Submission | None:
        if not self._levels:
            return None
        priority = max(self._levels)
        level = self._levels[priority]
        project = next(iter(level))
        waiting = level.pop(project)
        sub = waiting.popleft()
        if waiting:
            level[project] = waiting  # back of the rotation
        if not level:
            del self._levels[priority]
        return sub

    def position(self, task_id: str) -> int:
        """Where ``task_id`` stands if nothing else is pushed (1 = popped next; 0 = absent)."""
        for place, sub in enumerate(self._order(), start=1):
            if sub.task_id == task_id:
                return place
        return 0

    def _order(self) -> Iterator[Submission]:
        """The waiting submissions in the order :meth:`pop` would give them."""
        for priority in sorted(self._levels, reverse=True):
            queues = list(self._levels[priority].values())
            for turn in range(max(len(q) for q in queues)):
                yield from (q[turn] for q in queues if turn < len(q))

    def remove(self, task_id: str) -> Submission | None:
        for priority, level in self._levels.items():
            for project, waiting in level.items():
                for sub in waiting:
                    if sub.task_id == task_id:
                        waiting.remove(sub)
                        if not waiting:
                            del level[project]
                        if not level:
                            del self._levels[priority]
                        return sub
        return None


RunFn = Callable[[Submission], Awaitable[TaskResult]]


class Scheduler:
    """Runs submitted tasks through ``run``, at most ``concurrency`` at a time.

    ``run`` is normally the dispatcher; a :class:`~llmos.runtime.watchdog.Watchdog`
    given here is told about each task while it runs, so it can cancel it.
    """

    def __init__(
        self,
        run: RunFn,
        *,
        concurrency: int,
        bus: EventBus,
        watchdog: Watchdog | None = None,
    ) -> None:
        if concurrency < 1:
            raise ConfigError(
                f"scheduler.concurrency must be at least 1, got {concurrency}",
                key="scheduler.concurrency",
            )
        self._run = run
        self.concurrency = concurrency
        self.bus = bus
        self.watchdog = watchdog
        self._queue = FairQueue()
        self._handles: dict[str, TaskHandle] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._finished: deque[str] = deque()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False

    # ------------------------------------------------------------------ public

    async def submit(
        self,
        goal: str,
        *,
        mode: RequestedMode | None = None,
        project: str | None = None,
        priority: int = 0,
        task_id: str | None = None,
        cwd: Path | None = None,
    ) -> TaskHandle:
        """Queue a task; it starts at once when a slot is free. Higher priority runs first."""
        if self._closed:
            raise ConfigError(
                "the scheduler is closed and takes no more tasks; build a new one",
                key="scheduler",
            )
        task_id = task_id or new_task_id()
        if task_id in self._handles:
            raise ConfigError(
                f"task id {task_id!r} is already in use; leave it out to get a fresh one",
                key="task_id",
            )
        sub = Submission(
            task_id=task_id,
            goal=goal,
            mode=mode,
            project=project,
            priority=priority,
            submitted_at=time.time(),
            cwd=cwd,
        )
        handle = TaskHandle(sub)
        self._handles[task_id] = handle
        self._queue.push(sub)
        self._idle.clear()
        self._start_ready()
        if handle.status == "queued":
            await self.bus.publish(
                TaskQueued(
                    task_id=task_id,
                    position=self._queue.position(task_id),
                    running=len(self._running),
                    waiting=len(self._queue),
                    concurrency=self.concurrency,
                )
            )
        return handle

    def get(self, task_id: str) -> TaskHandle | None:
        return self._handles.get(task_id)

    def list(self) -> list[TaskInfo]:
        """Running and queued tasks, then recently finished ones, each in submission order."""
        handles = sorted(self._handles.values(), key=lambda h: h.submission.submitted_at)
        order = {"running": 0, "queued": 1}
        return [h.info() for h in sorted(handles, key=lambda h: order.get(h.status, 2))]

    async def cancel(self, task_id: str, *, reason: str = "cancelled on request") -> bool:
        """Cancel a queued or running task; False when it is unknown or already over.

        A queued task is removed and reported failed (``Cancelled``) at once. A
        running task is cancelled; its handle settles when the run has unwound.
        """
        handle = self._handles.get(task_id)
        if handle is None or handle.done():
            return False
        if self._queue.remove(task_id) is not None:
            await self._report_cancelled_before_start(handle, reason)
            self._forget_later(task_id)
            self._check_idle()
            return True
        running = self._running.get(task_id)
        if running is None:
            return False
        if handle._began:
            running.cancel(reason)
        else:
            handle._cancel_reason = reason
        return True

    async def join(self) -> None:
        """Wait until nothing is queued or running."""
        await self._idle.wait()

    async def close(self) -> None:
        """Cancel what is queued and running, and wait for the runs to unwind."""
        self._closed = True
        while (sub := self._queue.pop()) is not None:
            handle = self._handles[sub.task_id]
            await self._report_cancelled_before_start(handle, "the scheduler was closed")
        for task_id in list(self._running):
            await self.cancel(task_id, reason="the scheduler was closed")
        if self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)
        self._check_idle()

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def queued(self) -> int:
        return len(self._queue)

    # ------------------------------------------------------------------ inside

    def _start_ready(self) -> None:
        while not self._closed and len(self._running) < self.concurrency:
            sub = self._queue.pop()
            if sub is None:
                return
            handle = self._handles[sub.task_id]
            handle.status = "running"
            handle.started_at = time.time()
            self._running[sub.task_id] = asyncio.create_task(
                self._run_one(handle), name=f"llmos-task-{sub.task_id}"
            )

    async def _run_one(self, handle: TaskHandle) -> None:
        # Everything happens inside the try: a cancel asked for before this
        # coroutine's first step is kept in _cancel_reason, never thrown at it.
        sub = handle.submission
        handle._began = True
        try:
            if handle._cancel_reason is not None:
                await self._report_cancelled_before_start(handle, handle._cancel_reason)
                return
            if self.watchdog is not None:
                self.watchdog.watch(sub.task_id, asyncio.current_task())
            try:
                result = await self._run(sub)
            except asyncio.CancelledError as exc:
                handle._settle("cancelled", self._cancelled_result(sub, exc))
            except Exception as exc:  # handed to whoever awaits the result
                handle._settle("failed", error=exc)
            else:
                handle._settle("failed" if result.failed else "done", result)
        finally:
            if self.watchdog is not None:
                self.watchdog.unwatch(sub.task_id)
            del self._running[sub.task_id]
            self._forget_later(sub.task_id)
            self._start_ready()
            self._check_idle()

    def _cancelled_result(self, sub: Submission, exc: asyncio.CancelledError) -> TaskResult:
        expiry = self.watchdog.expiry(sub.task_id) if self.watchdog is not None else None
        why = (
            Cancellation(message=expiry.message, kind=FailureKind.WATCHDOG)
            if expiry is not None
            else cancellation_reason(exc)
        )
        return TaskResult.failure(
            task_id=sub.task_id,
            goal=sub.goal,
            mode=sub.mode or "auto",
            kind=why.kind,
            message=why.message,
            error_type=why.error_type,
        )

    async def _report_cancelled_before_start(self, handle: TaskHandle, reason: str) -> None:
        sub = handle.submission
        handle._settle(
            "cancelled",
            TaskResult.failure(
                task_id=sub.task_id,
                goal=sub.goal,
                mode=sub.mode or "auto",
                kind=FailureKind.CANCELLED,
                message=f"{reason} before it started",
                error_type="Cancelled",
            ),
        )
        await self.bus.publish(
            TaskFailed(
                task_id=sub.task_id,
                error=f"{reason} before it started",
                error_type="Cancelled",
                failure=FailureKind.CANCELLED,
                goal=sub.goal,  # it never started, so no TaskStarted named it
            )
        )

    def _forget_later(self, task_id: str) -> None:
        """Keep a bounded history of finished tasks for :meth:`list`."""
        self._finished.append(task_id)
        while len(self._finished) > FINISHED_KEPT:
            self._handles.pop(self._finished.popleft(), None)

    def _check_idle(self) -> None:
        if not self._running and not len(self._queue):
            self._idle.set()
