"""The watchdog: cancels a task that runs too long, hangs, or waits on a silent model.

Four limits, each off when ``None``:

- ``task_timeout_s`` — the task's wall-clock time;
- ``stall_s`` — no event of the task for that long (time inside a tool call
  does not count: a tool has its own limit, ``tool_timeout_s``, and Bash its
  ``tools.bash_timeout``);
- ``llm_call_timeout_s`` — a model call that streams nothing for that long;
- ``tool_timeout_s`` — one tool call running for that long.

Long before a silent model call is cancelled, the user hears of it: every
``llm_silence_notice_s`` of silence (15 s by default) a warning notice says how
long the model has sent nothing and when the call will be given up.

It is a bus subscriber (every event of a task but talk about it is progress), a pair of hooks
(``PreLLMCall``/``PostLLMCall`` mark a model call in flight) and a monitor
coroutine that checks the tasks it was told about with :meth:`Watchdog.watch`.
When a limit fires, the task's asyncio task is cancelled (so Bash kills its
process group and the dispatcher keeps the partial trace as failed and
releases the reservation) and a :class:`~llmos.events.WatchdogFired` names
the limit, its setting and its value.

Example:
    async with Watchdog(bus, stall_s=30, task_timeout_s=600) as watchdog:
        llmos.hooks.register_all(watchdog.hooks())   # for llm_call_timeout_s
        watchdog.watch(task_id, asyncio_task)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from llmos.config import WatchdogConfig
from llmos.errors import ConfigError
from llmos.events import (
    TOLD,
    Event,
    Notice,
    TaskFailed,
    TaskFinished,
    TextStreamed,
    ToolCallFinished,
    ToolCallStarted,
    WatchdogFired,
)
from llmos.hooks.inputs import PostLLMCallInput, PreLLMCallInput
from llmos.hooks.pipeline import Hook
from llmos.outcome import FailureKind, Outcome
from llmos.runtime.bus import EventBus

#: Every watchdog cancellation message starts with this (see :func:`cancellation_reason`).
WATCHDOG_PREFIX = "watchdog: "
#: The monitor never sleeps longer than this between checks.
MAX_POLL_S = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Expiry:
    """Which limit fired for a task: the setting's name, its value, and what to tell the user."""

    task_id: str
    setting: str
    limit_s: float
    #: What was seen, e.g. ``ran for 30 s``.
    what: str
    message: str


@dataclass(slots=True)
class _Watched:
    """What the monitor knows of one running task; times are from the watchdog's clock."""

    task: asyncio.Task[object]
    started: float
    last_event: float
    llm_call_since: float | None = None
    #: How many silence notices the current model call has had.
    silence_told: int = 0
    tools_running: dict[str, float] = field(default_factory=dict)


class Watchdog:
    """Cancels watched tasks past their limits; see the module docstring for the four limits."""

    def __init__(
        self,
        bus: EventBus,
        *,
        task_timeout_s: float | None = None,
        stall_s: float | None = None,
        llm_call_timeout_s: float | None = None,
        tool_timeout_s: float | None = None,
        llm_silence_notice_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = {
            "watchdog.task_timeout_s": task_timeout_s,
            "watchdog.stall_s": stall_s,
            "watchdog.llm_call_timeout_s": llm_call_timeout_s,
            "watchdog.tool_timeout_s": tool_timeout_s,
        }
        self.silence_notice_s = llm_silence_notice_s
        checked = {**self.limits, "watchdog.llm_silence_notice_s": llm_silence_notice_s}
        for setting, value in checked.items():
            if value is not None and value <= 0:
                raise ConfigError(
                    f"{setting} must be more than 0 seconds, got {value}; leave it out to "
                    "switch the limit off",
                    key=setting,
                )
        self.bus = bus
        self.clock = clock
        self._watched: dict[str, _Watched] = {}
        self._expired: dict[str, Expiry] = {}
        self._monitor: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._unsubscribe: Callable[[], None] | None = None
        active = [v for v in checked.values() if v is not None]
        self.poll_s = min([MAX_POLL_S, *(v / 5 for v in active)])

    @classmethod
    def from_limits(
        cls, bus: EventBus, limits: WatchdogConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> Watchdog:
        return cls(
            bus,
            task_timeout_s=limits.task_timeout_s,
            stall_s=limits.stall_s,
            llm_call_timeout_s=limits.llm_call_timeout_s,
            tool_timeout_s=limits.tool_timeout_s,
            llm_silence_notice_s=limits.llm_silence_notice_s,
            clock=clock,
        )

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Watchdog:
        """Subscribe to the bus and start the monitor (idempotent; needs a running loop)."""
        if self._monitor is None:
            self._unsubscribe = self.bus.subscribe(self._on_event)
            self._monitor = asyncio.create_task(self._run_monitor(), name="llmos-watchdog")
        return self

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._monitor is not None:
            self._monitor.cancel()
            await asyncio.gather(self._monitor, return_exceptions=True)
            self._monitor = None

    async def __aenter__(self) -> Watchdog:
        return self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ tasks

    def watch(self, task_id: str, task: asyncio.Task[object] | None) -> None:
        """Guard ``task`` (the asyncio task running ``task_id``) from now on."""
        if task is None:
            raise ValueError("watch() needs the asyncio task to cancel; call it inside one")
        now = self.clock()
        self._watched[task_id] = _Watched(task=task, started=now, last_event=now)
        self._expired.pop(task_id, None)
        self.start()
        self._wake.set()

    def unwatch(self, task_id: str) -> None:
        """Stop guarding a task and forget any limit that fired for it."""
        self._watched.pop(task_id, None)
        self._expired.pop(task_id, None)

    def expiry(self, task_id: str) -> Expiry | None:
        """The limit that cancelled ``task_id``, while it is still watched."""
        return self._expired.get(task_id)

    def hooks(self) -> list[Hook[PreLLMCallInput] | Hook[PostLLMCallInput]]:
        """Observer hooks that tell the watchdog when a model call starts and ends.

        They are async so that they run on the event loop: they touch the watched
        tasks, which a worker thread must not.
        """
        return [
            Hook(name="watchdog-llm-call", event="PreLLMCall", fn=self._llm_call_started),
            Hook(name="watchdog-llm-done", event="PostLLMCall", fn=self._llm_call_finished),
        ]

    # ------------------------------------------------------------------ inputs

    def _on_event(self, event: Event) -> None:
        watched = self._watched.get(event.task_id)
        if watched is None or isinstance(event, TOLD):  # talk about a task is not progress
            return
        now = self.clock()
        watched.last_event = now
        if isinstance(event, ToolCallStarted):
            self._cancel_again_if_expired(event.task_id, watched)
        match event:
            case TextStreamed() if watched.llm_call_since is not None:
                watched.llm_call_since = now
                watched.silence_told = 0
            case ToolCallStarted(call_id=call_id):
                watched.tools_running[call_id] = now
            case ToolCallFinished(call_id=call_id):
                watched.tools_running.pop(call_id, None)
            case TaskFinished() | TaskFailed():
                watched.llm_call_since = None
                watched.tools_running.clear()

    async def _llm_call_started(self, data: PreLLMCallInput) -> None:
        if (watched := self._watched.get(data.ctx.task_id)) is not None:
            self._cancel_again_if_expired(data.ctx.task_id, watched)
            watched.llm_call_since = self.clock()
            watched.silence_told = 0

    def _cancel_again_if_expired(self, task_id: str, watched: _Watched) -> None:
        """A task that starts new work after its limit fired swallowed the cancellation
        (some awaits do, e.g. a future that completes as it is cancelled): cancel it
        again, so a limit always ends the task."""
        if (expiry := self._expired.get(task_id)) is not None and not watched.task.done():
            watched.task.cancel(expiry.message)

    async def _llm_call_finished(self, data: PostLLMCallInput) -> None:
        if (watched := self._watched.get(data.ctx.task_id)) is not None:
            watched.llm_call_since = None

    # ------------------------------------------------------------------ monitor

    async def _run_monitor(self) -> None:
        while True:
            if not self._watched:
                self._wake.clear()
                await self._wake.wait()
            await asyncio.sleep(self.poll_s)
            await self.check_all()

    async def check_all(self) -> list[Expiry]:
        """One pass of the monitor: cancel every watched task past a limit now."""
        fired = []
        for task_id, watched in list(self._watched.items()):
            if task_id in self._expired or watched.task.done():
                continue
            expiry = self._check(task_id, watched)
            if expiry is not None:
                await self._fire(expiry, watched)
                fired.append(expiry)
            else:
                await self._tell_silence(task_id, watched)
        return fired

    async def _tell_silence(self, task_id: str, watched: _Watched) -> None:
        """Say so once per ``llm_silence_notice_s`` that the model call has sent nothing."""
        every, since = self.silence_notice_s, watched.llm_call_since
        if every is None or since is None:
            return
        silent = self.clock() - since
        if int(silent // every) <= watched.silence_told:
            return
        watched.silence_told = int(silent // every)
        limit = self.limits["watchdog.llm_call_timeout_s"]
        then = (
            f"it is given up after {limit:g} s (watchdog.llm_call_timeout_s)"
            if limit is not None
            else "watchdog.llm_call_timeout_s is off, so it waits until the backend's timeout"
        )
        await self.bus.publish(
            Notice(
                task_id=task_id,
                level="warning",
                message=f"the model has sent nothing for {silent:.0f} s; still waiting: {then}",
            )
        )

    def _check(self, task_id: str, watched: _Watched) -> Expiry | None:
        """The first limit ``task_id`` is past now, if any."""
        now = self.clock()
        limits = self.limits
        wall = limits["watchdog.task_timeout_s"]
        if wall is not None and now - watched.started >= wall:
            return self._expiry(task_id, "watchdog.task_timeout_s", f"ran for {wall:g} s")
        tool = limits["watchdog.tool_timeout_s"]
        running = watched.tools_running
        if tool is not None and running and now - min(running.values()) >= tool:
            return self._expiry(
                task_id, "watchdog.tool_timeout_s", f"a tool call ran for {tool:g} s"
            )
        llm = limits["watchdog.llm_call_timeout_s"]
        since = watched.llm_call_since
        if llm is not None and since is not None and now - since >= llm:
            return self._expiry(
                task_id, "watchdog.llm_call_timeout_s", f"the model sent nothing for {llm:g} s"
            )
        stall = limits["watchdog.stall_s"]
        if stall is not None and not watched.tools_running and now - watched.last_event >= stall:
            return self._expiry(task_id, "watchdog.stall_s", f"no progress for {stall:g} s")
        return None

    def _expiry(self, task_id: str, setting: str, what: str) -> Expiry:
        limit = self.limits[setting]
        assert limit is not None  # check() only names limits that are on
        return Expiry(
            task_id=task_id,
            setting=setting,
            limit_s=limit,
            what=what,
            message=f"{WATCHDOG_PREFIX}{what} ({setting}); task cancelled",
        )

    async def _fire(self, expiry: Expiry, watched: _Watched) -> None:
        self._expired[expiry.task_id] = expiry
        # The event goes out first, so the user reads why before the TaskFailed.
        await self.bus.publish(
            WatchdogFired(
                task_id=expiry.task_id,
                setting=expiry.setting,
                limit_s=expiry.limit_s,
                what=expiry.what,
            )
        )
        watched.task.cancel(expiry.message)


@dataclass(frozen=True, slots=True, kw_only=True)
class Cancellation:
    """Why a run was cancelled: ``kind`` is ``WATCHDOG`` (a limit fired) or ``CANCELLED``."""

    message: str
    kind: FailureKind

    @property
    def error_type(self) -> str:
        """The diagnostic name a failed result and ``TaskFailed`` carry."""
        return "WatchdogTimeout" if self.kind is FailureKind.WATCHDOG else "Cancelled"

    @property
    def outcome(self) -> Outcome:
        return Outcome.failed(self.kind, self.message)


def cancellation_reason(exc: asyncio.CancelledError) -> Cancellation:
    """Why ``exc`` cancelled a run, for the dispatcher's ``TaskFailed``.

    A watchdog cancellation names its limit (its message starts with
    :data:`WATCHDOG_PREFIX`); any other carries the message it was cancelled with.
    """
    message = str(exc.args[0]) if exc.args and exc.args[0] else ""
    if message.startswith(WATCHDOG_PREFIX):
        return Cancellation(message=message, kind=FailureKind.WATCHDOG)
    return Cancellation(message=message or "cancelled", kind=FailureKind.CANCELLED)
