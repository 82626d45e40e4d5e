"""The cron daemon: submits each recurring task to the scheduler when it falls due.

Each pass reads the schedule file again (another process may have added or
removed entries), submits what is due and moves each entry's next run past
now; runs missed while no daemon was up are not repeated, the entry simply
runs once. An entry whose previous run is still going is skipped, with a
notice, rather than started twice. The clock is injectable so tests need not
wait for a minute to turn.

Example:
    daemon = CronDaemon(ScheduleStore.for_workspace(ws), scheduler, bus=llmos.bus)
    stop = asyncio.Event()
    await daemon.run(stop)          # until stop is set
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime

from llmos.events import ScheduleFired, ScheduleSkipped
from llmos.runtime.bus import EventBus
from llmos.runtime.schedule_store import CronEntry, ScheduleStore, local_now
from llmos.runtime.scheduler import Scheduler, TaskHandle

#: The daemon looks at the schedule file at least this often, for entries added meanwhile.
MAX_SLEEP_S = 30.0


class CronDaemon:
    """Runs due entries of a :class:`ScheduleStore` through a :class:`Scheduler`."""

    def __init__(
        self,
        store: ScheduleStore,
        scheduler: Scheduler,
        *,
        bus: EventBus,
        clock: Callable[[], datetime] = local_now,
        max_sleep_s: float = MAX_SLEEP_S,
    ) -> None:
        self.store = store
        self.scheduler = scheduler
        self.bus = bus
        self.clock = clock
        self.max_sleep_s = max_sleep_s
        self._last: dict[str, TaskHandle] = {}

    async def run_due(self) -> list[TaskHandle]:
        """One pass: submit every due entry and record its run; returns the new tasks."""
        now = self.clock()
        started: list[TaskHandle] = []
        for entry in await asyncio.to_thread(self.store.due, now):
            previous = self._last.get(entry.id)
            if previous is not None and not previous.done():
                await asyncio.to_thread(self.store.mark_run, entry.id, now, previous.task_id)
                await self.bus.publish(
                    ScheduleSkipped(task_id=previous.task_id, schedule_id=entry.id, cron=entry.cron)
                )
                continue
            handle = await self._start(entry)
            await asyncio.to_thread(self.store.mark_run, entry.id, now, handle.task_id)
            started.append(handle)
        return started

    async def _start(self, entry: CronEntry) -> TaskHandle:
        handle = await self.scheduler.submit(
            entry.goal, mode=entry.mode, project=entry.project, cwd=entry.cwd
        )
        self._last[entry.id] = handle
        await self.bus.publish(
            ScheduleFired(
                task_id=handle.task_id, schedule_id=entry.id, cron=entry.cron, goal=entry.goal
            )
        )
        return handle

    async def seconds_to_next(self) -> float:
        """How long to sleep before the next entry falls due (at most ``max_sleep_s``)."""
        entries = await asyncio.to_thread(self.store.list)
        if not entries:
            return self.max_sleep_s
        wait = (entries[0].next_run - self.clock()).total_seconds()
        return min(max(wait, 0.0), self.max_sleep_s)

    async def run(self, stop: asyncio.Event) -> None:
        """Submit due entries until ``stop`` is set; the scheduler is left to its owner."""
        while not stop.is_set():
            await self.run_due()
            wait_s = await self.seconds_to_next()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await stop.wait()
