"""Checking from tests that a process really ended (a killed Bash child, a CLI)."""

from __future__ import annotations

import asyncio
from pathlib import Path


def process_alive(pid: int) -> bool:
    """Running or sleeping; a zombie waiting for init to reap it counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


async def wait_until_gone(pid: int, timeout_s: float = 60.0) -> bool:
    """SIGKILL is asynchronous: give the kernel a moment (a busy machine, a long one)."""
    for _ in range(int(timeout_s / 0.05)):
        if not process_alive(pid):
            return True
        await asyncio.sleep(0.05)
    return False
