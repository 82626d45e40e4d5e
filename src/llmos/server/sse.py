"""Server-sent events: a task's events as ``data:`` lines, the same JSON as ``--json``.

Each event is sent with its index as the SSE ``id``, so a client that
reconnects with ``Last-Event-ID`` continues where it stopped instead of
seeing the run twice. A comment line goes out after a quiet stretch so
proxies and browsers keep the connection open. The stream ends after the
task's last event (``task-finished`` or ``task-failed``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse

from llmos.events import event_to_json
from llmos.server.tasks import TaskLog

#: Seconds without an event before a keep-alive comment is sent.
KEEPALIVE_S = 15.0
#: How long a browser waits before reconnecting a dropped stream, in milliseconds.
RETRY_MS = 2000


def resume_index(last_event_id: str | None) -> int:
    """Where to start: after the event the client saw last (ids are event indexes)."""
    if last_event_id is None or not last_event_id.strip().isdigit():
        return 0
    return int(last_event_id) + 1


async def event_lines(log: TaskLog, start: int = 0) -> AsyncIterator[str]:
    """The SSE text for a task's events from index ``start``, live until it ends."""
    yield f"retry: {RETRY_MS}\n\n"
    index = start
    async for event in log.follow(start, idle_s=KEEPALIVE_S):
        if event is None:
            yield ": keep-alive\n\n"
            continue
        yield f"id: {index}\ndata: {event_to_json(event)}\n\n"
        index += 1
        # Let the loop run between events: a client that catches up on a long backlog
        # gets it in one burst, and a client that hangs up meanwhile is only noticed
        # (uvicorn's connection_lost, then http.disconnect) between two steps of this
        # task. Without the pause every write after the hang-up logged asyncio's
        # "socket.send() raised exception." (31,754 lines for 60 clients).
        await asyncio.sleep(0)


def event_stream(log: TaskLog, start: int = 0) -> StreamingResponse:
    return StreamingResponse(
        event_lines(log, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
