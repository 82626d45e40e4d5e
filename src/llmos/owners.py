"""Who a process is, in a form another process can check later: ``host:pid:start``.

A pid alone is not an identity: pids are reused. With the start time (Linux
``/proc``) a later process can tell the writer of a reservation or a temp file
is gone, even if its pid now belongs to someone else.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell reused pids apart.

    None for a process that is gone, and for a zombie (state ``Z`` or ``X``): it
    has ended and will never release what it holds, only its parent has not
    reaped it yet.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may hold spaces and parentheses.
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def current_owner() -> str:
    """``host:pid:start`` of this process, recorded on each reservation it opens."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid) or ''}"


def owner_alive(owner: str) -> bool:
    """False only when the owner surely ended: same host, and its pid is gone or reused.

    Owners on another host (a ledger on shared storage) are assumed alive.
    """
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if start and Path("/proc").is_dir():
        return _start_time(pid) == start
    return pid_alive(pid)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs here (one of another user's counts too).

    With Linux ``/proc`` a zombie counts as gone: it has ended, only its parent
    has not reaped it yet. Elsewhere the signal-0 probe cannot tell.
    """
    if Path("/proc").is_dir():
        return _start_time(pid) is not None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
