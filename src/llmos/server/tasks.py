"""The server's tasks: run through the kernel scheduler, their events kept for replay.

Every task submitted over HTTP gets a :class:`TaskRecord`: the scheduler's
handle (status, result), the events published for it so far (so a client
that connects late to ``/tasks/{id}/events`` sees the run from its start),
and the budget it was given. An orchestration's subtasks (ids
``<task id>.<subtask>``) belong to their task: their events are in its log
and their spending counts against its budget. A task's budget is a
:class:`TaskCap`, checked like every budget (:mod:`llmos.hooks.budget`): before
each model call, which is given a lower ``max_tokens`` when that is all the
cap can pay for and refused when not even a short answer fits, by one
``PreLLMCall`` hook shared by all tasks.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from llmos.api import LLMOS
from llmos.economy import format_usd
from llmos.events import (
    Event,
    ModeChosen,
    RequestedMode,
    TaskFailed,
    TaskFinished,
    TaskMode,
    UsageUpdated,
)
from llmos.hooks.budget import CallBudget, Shortfall, budget_hook
from llmos.runtime.scheduler import FINISHED_KEPT, TaskHandle, TaskStatus
from llmos.runtime.task import TaskResult, new_task_id

TASK_BUDGET_HOOK = "task-budget"


@dataclass(slots=True)
class TaskLog:
    """The events of one task, in order; readers wait for more until the task ends."""

    events: list[Event] = field(default_factory=list)
    ended: bool = False
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def append(self, event: Event, *, last: bool = False) -> None:
        """Add an event; ``last`` marks the task's final one (readers stop after it)."""
        async with self._changed:
            self.events.append(event)
            self.ended = self.ended or last
            self._changed.notify_all()

    async def follow(self, start: int = 0, *, idle_s: float = 15.0) -> AsyncIterator[Event | None]:
        """The events from index ``start`` on, live, until the task's last one.

        Yields None after ``idle_s`` seconds without an event, so a caller can
        keep a quiet connection alive.
        """
        index = start
        while True:
            while index < len(self.events):
                index += 1
                yield self.events[index - 1]
            if self.ended:
                return
            quiet = False
            async with self._changed:
                if index >= len(self.events) and not self.ended:
                    try:
                        async with asyncio.timeout(idle_s):
                            await self._changed.wait()
                    except TimeoutError:
                        quiet = True
            if quiet:
                yield None  # outside the lock: appends never wait for a slow reader


@dataclass(slots=True, kw_only=True)
class TaskRecord:
    """One task as the server knows it."""

    task_id: str
    goal: str
    requested_mode: RequestedMode | None
    project: str | None
    budget_usd: float | None
    submitted_at: float = field(default_factory=time.time)
    handle: TaskHandle | None = None
    log: TaskLog = field(default_factory=TaskLog)
    mode: TaskMode | None = None
    trace_id: str | None = None
    confidence: float | None = None
    spent: dict[str, float] = field(default_factory=dict)  # (sub)task id -> its cost so far
    ended_cost_usd: float = 0.0  # what the task's last event (finished or failed) says it cost
    result: TaskResult | None = None
    crash: str | None = None  # what the run raised instead of returning a result

    @property
    def status(self) -> TaskStatus:
        return "queued" if self.handle is None else self.handle.status

    @property
    def cost_usd(self) -> float:
        """What the task and its subtasks have spent so far.

        Spending only grows, so the larger of the running sum and the final
        report is the truth (a cancelled run's last report holds what it spent).
        """
        return max(sum(self.spent.values()), self.ended_cost_usd)

    def cap(self) -> TaskCap | None:
        """The budget it was submitted with, as a limit on its (and its subtasks') calls."""
        return None if self.budget_usd is None else TaskCap(self, self.budget_usd)

    async def note(self, event: Event) -> None:
        """Log an event of the task (or of a subtask) and keep the listed figures current."""
        own = event.task_id == self.task_id
        match event:
            case ModeChosen(mode=mode, trace_id=trace_id, confidence=confidence) if own:
                self.mode, self.trace_id, self.confidence = mode, trace_id, confidence
            case UsageUpdated(task_id=task_id, total_cost_usd=total):
                self.spent[task_id] = total
            case TaskFinished() | TaskFailed() if own:
                self.mode = event.mode or self.mode
                self.trace_id = event.trace_id or self.trace_id
                self.ended_cost_usd = event.cost_usd
        await self.log.append(event, last=own and isinstance(event, TaskFinished | TaskFailed))


class TaskCap(CallBudget):
    """A task's HTTP ``budget``: its calls and its subtasks' may cost that much in all.

    A limit only: the money is reserved and charged by the workspace budget.
    """

    def __init__(self, record: TaskRecord, budget_usd: float) -> None:
        self.record = record
        self.budget_usd = budget_usd
        self.task_id = record.task_id

    def covers(self, needed_usd: float) -> bool:
        return needed_usd <= self.budget_usd - self.record.cost_usd

    async def ensure(self, needed_usd: float) -> Shortfall | None:
        left = max(self.budget_usd - self.record.cost_usd, 0.0)
        if needed_usd <= left:
            return None
        return Shortfall(
            left_usd=left,
            scope="task budget",
            of=f" of the {format_usd(self.budget_usd)} this task was given",
            fix='submit it again with a larger "budget"',
        )


class TaskBoard:
    """Submits tasks to the kernel scheduler and remembers them for the API.

    Example:
        board = await TaskBoard.open(llmos, concurrency=4)
        record = await board.submit("Create hello.txt", budget_usd=0.5)
        async for event in record.log.follow(): ...
    """

    def __init__(self, llmos: LLMOS, *, concurrency: int) -> None:
        self.llmos = llmos
        self.scheduler = llmos.scheduler(concurrency=concurrency)
        self._records: dict[str, TaskRecord] = {}
        self._finished: deque[str] = deque()
        self._collectors: set[asyncio.Task[None]] = set()
        self._unsubscribe = llmos.subscribe(self._on_event)
        llmos.hooks.register(
            budget_hook(llmos.budget().prices, self._cap_of, name=TASK_BUDGET_HOOK)
        )

    @classmethod
    async def open(cls, llmos: LLMOS, *, concurrency: int) -> TaskBoard:
        """Boot ``llmos`` (its watchdog has the ``[watchdog]`` limits) and start the scheduler."""
        await llmos.boot()
        await llmos.prepare_state()
        return cls(llmos, concurrency=concurrency)

    async def close(self) -> None:
        """Cancel what is queued and running, and wait for it to unwind."""
        await self.scheduler.close()
        if self._collectors:
            await asyncio.gather(*self._collectors, return_exceptions=True)
        self._unsubscribe()
        self.llmos.hooks.unregister(TASK_BUDGET_HOOK)

    async def submit(
        self,
        goal: str,
        *,
        mode: RequestedMode | None = None,
        project: str | None = None,
        budget_usd: float | None = None,
    ) -> TaskRecord:
        """Queue a task; its record exists before its first event, so none is missed."""
        record = TaskRecord(
            task_id=new_task_id(),
            goal=goal,
            requested_mode=mode,
            project=project,
            budget_usd=budget_usd,
        )
        self._records[record.task_id] = record
        record.handle = await self.scheduler.submit(
            goal, mode=mode, project=project, task_id=record.task_id
        )
        collector = asyncio.create_task(self._collect(record, record.handle))
        self._collectors.add(collector)
        collector.add_done_callback(self._collectors.discard)
        return record

    def get(self, task_id: str) -> TaskRecord | None:
        return self._records.get(task_id)

    def list(self) -> list[TaskRecord]:
        """Newest first."""
        return list(reversed(self._records.values()))

    async def cancel(self, task_id: str) -> bool:
        """Cancel a queued or running task; False when it has already ended."""
        return await self.scheduler.cancel(task_id, reason="cancelled through the HTTP API")

    # ------------------------------------------------------------------ inside

    def _record_of(self, task_id: str) -> TaskRecord | None:
        """The task a (sub)task id belongs to: subtasks are ``<task id>.<subtask>``."""
        return self._records.get(task_id.split(".", 1)[0])

    async def _on_event(self, event: Event) -> None:
        record = self._record_of(event.task_id)
        if record is not None:
            await record.note(event)

    async def _collect(self, record: TaskRecord, handle: TaskHandle) -> None:
        try:
            record.result = await handle.result()
        except Exception as exc:  # bad settings: the dispatcher published TaskFailed already
            record.crash = f"{type(exc).__name__}: {exc}"
        finally:
            self._finished.append(record.task_id)
            while len(self._finished) > FINISHED_KEPT:
                self._records.pop(self._finished.popleft(), None)

    def _cap_of(self, task_id: str) -> CallBudget | None:
        """The cap of the task a (sub)task id belongs to, if it was given a budget."""
        record = self._record_of(task_id)
        return None if record is None else record.cap()
