"""Run a command as a process group that never outlives the call.

The process starts in its own session, so its pid is also its process-group
id and one ``killpg`` reaches every child that did not leave the group. The
group is killed when the command ends, when it runs out of time, and when
the awaiting task is cancelled: a tool call leaves no process behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

READ_CHUNK_BYTES = 1 << 16
PIPE_DRAIN_TIMEOUT_S = 2.0
#: Rounds of 20 ms in which a dead command's process group must empty (5 s).
STRAGGLER_ROUNDS = 250


@dataclass(frozen=True, slots=True)
class ProcessOutcome:
    """How a process ended and what it printed (each stream capped at ``keep_bytes``)."""

    exit_code: int
    stdout: bytes
    stderr: bytes
    dropped_bytes: int
    timed_out: bool


class _Capture:
    """Keep the head of a stream and count the rest, so memory stays bounded."""

    def __init__(self, keep_bytes: int) -> None:
        self._keep_bytes = keep_bytes
        self._chunks: list[bytes] = []
        self._kept = 0
        self.dropped = 0

    async def drain(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(READ_CHUNK_BYTES):
            room = max(self._keep_bytes - self._kept, 0)
            if room:
                self._chunks.append(chunk[:room])
                self._kept += min(room, len(chunk))
            self.dropped += max(len(chunk) - room, 0)

    def data(self) -> bytes:
        return b"".join(self._chunks)


async def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    keep_bytes: int,
) -> ProcessOutcome:
    """Run ``argv`` with stdin from /dev/null, capturing stdout and stderr apart."""
    process = await _spawn(argv, cwd=cwd, env=env)
    assert process.stdout is not None and process.stderr is not None  # PIPE was asked for
    stdout, stderr = _Capture(keep_bytes), _Capture(keep_bytes)
    readers = [
        asyncio.create_task(stdout.drain(process.stdout)),
        asyncio.create_task(stderr.drain(process.stderr)),
    ]
    timed_out = False
    try:
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a
            # cancellation that lands as the process exits, and the run goes on.
            async with asyncio.timeout(timeout_s):
                await process.wait()
        except TimeoutError:
            timed_out = True
    finally:
        # On normal exit this stops background children; on time-out and on
        # cancellation it stops the command itself.
        _kill_group(process.pid)
        await asyncio.shield(_reap(process, readers))
    exit_code = process.returncode if process.returncode is not None else -1
    return ProcessOutcome(
        exit_code=128 - exit_code if exit_code < 0 else exit_code,  # killed by signal N: 128+N
        stdout=stdout.data(),
        stderr=stderr.data(),
        dropped_bytes=stdout.dropped + stderr.dropped,
        timed_out=timed_out,
    )


async def _spawn(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]
) -> asyncio.subprocess.Process:
    """Start the process group; a cancellation while it starts still kills it.

    The child exists from the fork on, before asyncio has connected its pipes;
    were the start cancelled in between, asyncio would kill the command alone
    and leave its children running. The start is shielded instead, and a
    cancellation that arrived meanwhile kills the whole group as soon as it is
    known; the cancelled call returns once the group is gone.
    """
    starting = asyncio.ensure_future(
        asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    )
    try:
        return await asyncio.shield(starting)
    except asyncio.CancelledError:
        cleanup = asyncio.ensure_future(_end_once_started(starting))
        _CLEANUPS.add(cleanup)
        cleanup.add_done_callback(_CLEANUPS.discard)
        with contextlib.suppress(asyncio.CancelledError):  # a second cancel stops the wait only
            await asyncio.shield(cleanup)
        raise


#: Clean-ups of starts cancelled midway, kept referenced until they are done.
_CLEANUPS: set[asyncio.Task[None]] = set()


async def _end_once_started(starting: asyncio.Future[asyncio.subprocess.Process]) -> None:
    """Once the cancelled start is done, kill the group and wait until it is gone."""
    try:
        process = await starting
    except Exception:  # it failed to start: nothing to kill
        return
    _kill_group(process.pid)
    await process.wait()  # asyncio reaps it and closes its pipes
    await _kill_stragglers(process.pid)


def _kill_group(pgid: int) -> bool:
    """SIGKILL the group; False when it has no member left."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _kill_stragglers(pgid: int) -> None:
    """Kill the group again until it is empty, after its leader died.

    A child forked at the moment the first SIGKILL reached the group (bubblewrap
    sets up its sandbox right after it starts) can miss it and live on in the
    group; once the leader is gone nothing new joins, so the group empties.
    """
    for _ in range(STRAGGLER_ROUNDS):
        if not _kill_group(pgid) or not await asyncio.to_thread(_live_members, pgid):
            return  # empty, or only zombies that init has not reaped yet
        await asyncio.sleep(0.02)


def _live_members(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (Linux ``/proc``; elsewhere: assume not)."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return False
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


async def _reap(process: asyncio.subprocess.Process, readers: list[asyncio.Task[None]]) -> None:
    """Wait for the killed process and the last bytes of its pipes, boundedly.

    A child that left the process group (``setsid``) may still hold a pipe
    open; the readers are then abandoned rather than waited for.
    """
    await process.wait()
    await _kill_stragglers(process.pid)
    _, pending = await asyncio.wait(readers, timeout=PIPE_DRAIN_TIMEOUT_S)
    for reader in pending:
        reader.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
