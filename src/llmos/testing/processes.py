"""Checking from tests that a process really ended (a killed Bash child, a CLI)."""

from __future__ import annotations

import asyncio

from llmos.owners import pid_alive as process_alive

__all__ = ["process_alive", "wait_until_gone"]


async def wait_until_gone(pid: int, timeout_s: float = 60.0) -> bool:
    """SIGKILL is asynchronous: give the kernel a moment (a busy machine, a long one)."""
    for _ in range(int(timeout_s / 0.05)):
        if not process_alive(pid):
            return True
        await asyncio.sleep(0.05)
    return False
