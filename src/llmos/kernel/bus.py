"""The event bus: every part publishes, renderers and recorders subscribe.

Subscribers are plain callables (sync or async). A failing subscriber is
isolated: it is reported on stderr once and dropped, so a broken renderer
never breaks a task.
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

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add a subscriber; returns a function that removes it."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

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
                self._subscribers.remove(subscriber)
                print(
                    f"llmos: event subscriber {subscriber!r} failed and was removed: "
                    f"{type(exc).__name__}: {exc}",
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
