"""Helpers for kernel tests: a real LLMOS on a scripted backend, and waiting for events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmos import LLMOS
from llmos.backends.base import Backend
from llmos.config import load_settings
from llmos.events import Event
from llmos.runtime.bus import EventBus
from llmos.runtime.scheduler import Scheduler, Submission


def make_llmos(workspace: Path, backend: Backend, **overrides: Any) -> LLMOS:
    """The real API over ``workspace``; sandboxing off so Bash behaves the same everywhere."""
    settings = load_settings(workspace=workspace, overrides={"tools.sandbox": False, **overrides})
    return LLMOS(settings=settings, backend=backend)


def scheduler_for(llmos: LLMOS, concurrency: int, **kw: Any) -> Scheduler:
    """A scheduler whose tasks run through the real dispatcher, as the lead wires it."""

    def run(sub: Submission):
        return llmos.dispatcher.run(sub.goal, mode=sub.mode, task_id=sub.task_id)

    return Scheduler(run, concurrency=concurrency, bus=llmos.bus, **kw)


class EventLog:
    """Every event published on a bus, and a way to wait for one."""

    def __init__(self, bus: EventBus) -> None:
        self.events: list[Event] = []
        self._waiters: list[tuple[Callable[[Event], bool], asyncio.Future[Event]]] = []
        bus.subscribe(self._record)

    def _record(self, event: Event) -> None:
        self.events.append(event)
        for predicate, future in list(self._waiters):
            if not future.done() and predicate(event):
                future.set_result(event)

    async def wait_for(self, predicate: Callable[[Event], bool], timeout_s: float = 120) -> Event:
        for event in self.events:
            if predicate(event):
                return event
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, future))
        return await asyncio.wait_for(future, timeout_s)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


async def read_when_written(path: Path, timeout_s: float = 120) -> str:
    """The file's text once a command has written something to it."""
    for _ in range(int(timeout_s / 0.05)):
        text = await asyncio.to_thread(lambda: path.read_text() if path.exists() else "")
        if text.strip():
            return text
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} was not written within {timeout_s} s")
