"""SIGTERM and SIGHUP end a CLI run as Ctrl-C does: the task is cancelled, not killed.

Python's default for both signals is to die on the spot: a running Bash
command's process group would live on under PID 1, the run would leave no
record and its budget reservation would stay open until another process
reclaimed it. Here either signal cancels the running task instead, so the
same clean end as Ctrl-C follows: Bash kills its process group, the run is
saved as a cancelled (failed) trace and reported, the reservation is released.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

#: The signals a terminal, ``kill`` or a service manager sends to end a program.
TERMINATING = (signal.SIGTERM, signal.SIGHUP)


@dataclass(slots=True)
class Termination:
    """Which signal stopped the run, if one did."""

    signum: int | None = None

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, as a shell reports a program the signal ended."""
        return 128 + (self.signum or 0)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""


@contextmanager
def cancel_on_termination() -> Iterator[Termination]:
    """Inside a running loop: SIGTERM or SIGHUP cancels the current task while the block runs."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("cancel_on_termination() needs a running asyncio task")
    stopped = Termination()

    def on_signal(signum: int) -> None:
        stopped.signum = signum
        task.cancel(f"stopped by {signal.Signals(signum).name}")

    for signum in TERMINATING:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        yield stopped
    finally:
        for signum in TERMINATING:
            loop.remove_signal_handler(signum)
