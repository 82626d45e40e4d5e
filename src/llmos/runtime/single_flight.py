"""Single-flight learning: while one run learns a goal, the same goal waits, then follows.

Eight processes given the same new goal used to learn it eight times (eight
traces, eight times the spend). Now a run about to learn takes a file lock
named after the goal's normalised signature, in the library's folder, so every
process sharing the store sees it. A run that finds the lock taken says so (a
warning notice: on stderr in the CLI), waits, and once it has the lock looks
again: the first run's trace, if it succeeded, is followed; if it failed, this
run learns (holding the lock in turn).

The locks are ``flock`` locks (``filelock``): the kernel drops one when its
process ends, however it ends, so a killed learner never leaves a stale lock.
The lock files themselves stay (empty, one per goal ever learned): deleting a
lock file another process may be waiting on would let two runs in at once.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from llmos.memory.normalize import signature

#: Seconds between tries while another run holds the lock.
POLL_S = 0.2


def _try(lock: FileLock) -> bool:
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return False
    return True


class LearningLocks:
    """One lock per goal signature under ``folder`` (``memory/learning/`` of a library)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path_for(self, goal: str) -> Path:
        digest = hashlib.sha256(signature(goal).encode("utf-8")).hexdigest()[:32]
        return self.folder / f"{digest}.lock"

    @asynccontextmanager
    async def hold(
        self, goal: str, *, on_wait: Callable[[Path], Awaitable[None]]
    ) -> AsyncIterator[bool]:
        """Hold the goal's lock while the block runs; yields True if another run held it first.

        ``on_wait`` hears, once, that this run waits and for which lock.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path_for(goal)
        lock = FileLock(str(path), thread_local=False, preserve_lock_file=True)
        waited = False
        while not await self._attempt(lock):
            if not waited:
                waited = True
                await on_wait(path)
            await asyncio.sleep(POLL_S)
        try:
            yield waited
        finally:
            lock.release()

    @staticmethod
    async def _attempt(lock: FileLock) -> bool:
        """One non-blocking try, in a thread; a cancel in the middle never leaks the lock."""
        attempt = asyncio.ensure_future(asyncio.to_thread(_try, lock))
        try:
            return await asyncio.shield(attempt)
        except asyncio.CancelledError:
            if await attempt:
                lock.release()
            raise
