"""``llmos daemon``: run recurring tasks when they fall due, until stopped.

Due entries go through the kernel scheduler (concurrency limit, fairness
between projects) under the watchdog. SIGINT (Ctrl-C) and SIGTERM stop the
daemon cleanly: running tasks are cancelled the way the watchdog cancels
them (child processes killed, partial traces kept as failed, reservations
released) before it exits. ``--once`` runs what is due now, waits for it
and exits, for use from a system crontab or a CI job.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from llmos.api import LLMOS
from llmos.cli.common import (
    JsonOption,
    ModelOption,
    ProviderOption,
    ScriptOption,
    WorkspaceOption,
    settings_for,
    stdout_console,
)
from llmos.cli.render import JsonRenderer
from llmos.events import (
    TOLD,
    Event,
    ScheduleFired,
    ScheduleSkipped,
    TaskFailed,
    TaskFinished,
    TaskStarted,
)
from llmos.runtime.cron import CronDaemon
from llmos.runtime.schedule_store import ScheduleStore, local_now


class DaemonRenderer:
    """One line per task start and end, and the notices that matter; tasks interleave."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def __call__(self, event: Event) -> None:
        stamp = time.strftime("%H:%M:%S")
        match event:
            case TaskStarted(task_id=task_id, goal=goal):
                self.console.print(f"{stamp} {task_id} started: {escape(goal)}")
            case TaskFinished(task_id=task_id, mode=mode, cost_usd=cost, duration_s=took):
                self.console.print(
                    f"{stamp} {task_id} [green]done[/] · {mode} · {took:.1f} s · ${cost:.4f}"
                )
            case TaskFailed(task_id=task_id, error=error, error_type=kind):
                self.console.print(f"{stamp} {task_id} [red]failed[/] ({kind}): {escape(error)}")
            case ScheduleFired() | ScheduleSkipped():
                self.console.print(f"{stamp} {event.task_id} {escape(event.message)}")
            case _ if isinstance(event, TOLD) and event.level == "warning":
                self.console.print(f"{stamp} {event.task_id} {escape(event.message)}")


async def run_daemon(
    llmos: LLMOS,
    *,
    concurrency: int | None = None,
    once: bool = False,
    stop: asyncio.Event | None = None,
    clock: Callable[[], datetime] = local_now,
    on_ready: Callable[[int], None] | None = None,
) -> int:
    """Run due entries until ``stop`` is set (or once); returns how many tasks failed."""
    stop = stop or asyncio.Event()
    failed = 0

    def count(event: Event) -> None:
        nonlocal failed
        if isinstance(event, TaskFailed):
            failed += 1

    async with llmos:
        await llmos.prepare_state()
        llmos.subscribe(count)
        store = ScheduleStore.for_workspace(llmos.workspace, clock=clock)
        limit = concurrency or llmos.settings.scheduler.concurrency
        scheduler = llmos.scheduler(concurrency=limit)
        daemon = CronDaemon(store, scheduler, bus=llmos.bus, clock=clock)
        try:
            if on_ready is not None:
                on_ready(len(await asyncio.to_thread(store.list)))
            if once:
                await daemon.run_due()
                await _first_of(scheduler.join(), stop.wait())
            else:
                await daemon.run(stop)
        finally:
            await asyncio.shield(scheduler.close())
    return failed


async def _first_of(*waits: Awaitable[object]) -> None:
    """Wait until one of ``waits`` is done, then drop the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def daemon_command(
    workspace: WorkspaceOption = None,
    provider: ProviderOption = None,
    model: ModelOption = None,
    script: ScriptOption = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            min=1,
            help="Tasks that may run at once (default: scheduler.concurrency).",
            show_default=False,
        ),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Run what is due now, wait for it, and exit.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Run recurring tasks (`llmos schedule add`) when due; Ctrl-C or SIGTERM stops it."""
    settings = settings_for(workspace, provider=provider, model=model, script=script)
    limit = concurrency or settings.scheduler.concurrency
    llmos = LLMOS(settings=settings)
    console = stdout_console()
    llmos.subscribe(JsonRenderer() if json_output else DaemonRenderer(console))

    def ready(entries: int) -> None:
        if not json_output:
            what = "what is due now" if once else "until Ctrl-C or SIGTERM"
            console.print(
                f"daemon: {entries} recurring task(s) in {settings.workspace}, "
                f"concurrency {limit}; running {what}"
            )

    failed = asyncio.run(_serve(llmos, concurrency=limit, once=once, on_ready=ready))
    if not json_output:
        console.print("daemon stopped")
    if once and failed:
        raise typer.Exit(1)


async def _serve(
    llmos: LLMOS, *, concurrency: int, once: bool, on_ready: Callable[[int], None]
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        return await run_daemon(
            llmos, concurrency=concurrency, once=once, stop=stop, on_ready=on_ready
        )
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
