"""The event bus: every part publishes, renderers and recorders subscribe.

Subscribers are plain callables (sync or async). A failing subscriber is
isolated: the event goes on to the others, so a broken renderer never breaks
a task. It stays subscribed (one odd event must not cost the session log every
later task of a long-lived server) and every failure is counted; the 1st,
10th, 100th … are reported on stderr with the event that failed.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from llmos.events import Event

Subscriber = Callable[[Event], Awaitable[None] | None]


class EventBus:
    """Fan-out of events to subscribers, in the order they subscribed."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self.failures: dict[Subscriber, int] = {}

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add a subscriber; returns a function that removes it."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)
            self.failures.pop(subscriber, None)

        return unsubscribe

    async def publish(self, event: Event) -> None:
        for subscriber in list(self._subscribers):
            try:
                outcome = subscriber(event)
                if inspect.isawaitable(outcome):
                    await outcome
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._report(subscriber, event, exc)

    def _report(self, subscriber: Subscriber, event: Event, exc: Exception) -> None:
        count = self.failures.get(subscriber, 0) + 1
        self.failures[subscriber] = count
        if str(count).strip("0") != "1":  # report the 1st, 10th, 100th … failure
            return
        print(
            f"llmos: event subscriber {subscriber!r} failed on the {event.kind} event of task "
            f"{getattr(event, 'task_id', '?')} ({type(exc).__name__}: {exc}); it stays subscribed "
            f"(failure {count})",
            file=sys.stderr,
        )

    @asynccontextmanager
    async def stream(self, task_id: str | None = None) -> AsyncIterator[asyncio.Queue[Event]]:
        """A queue receiving events (of one task, or all) while the block runs."""
        queue: asyncio.Queue[Event] = asyncio.Queue()

        def put(event: Event) -> None:
            if task_id is None or getattr(event, "task_id", None) == task_id:
                queue.put_nowait(event)

        unsubscribe = self.subscribe(put)
        try:
            yield queue
        finally:
            unsubscribe()
