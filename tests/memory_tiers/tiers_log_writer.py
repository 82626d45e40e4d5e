"""A process that logs events until it is killed (for the kill-safety test).

Usage: python tiers_log_writer.py SESSIONS_DIR TASK_ID
Prints "ready" once 50 events are logged, then keeps logging.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from llmos.events import TaskStarted, TextStreamed
from llmos.memory.session_log import SessionLog
from llmos.runtime.bus import EventBus


async def main(sessions: Path, task_id: str) -> None:
    bus = EventBus()
    bus.subscribe(SessionLog(sessions))
    await bus.publish(
        TaskStarted(task_id=task_id, goal="log until killed", mode="auto", workspace="/ws")
    )
    count = 0
    while True:
        await bus.publish(TextStreamed(task_id=task_id, text=f"chunk {count} " + "x" * 2000))
        count += 1
        if count == 50:
            print("ready", flush=True)
        await asyncio.sleep(0)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
