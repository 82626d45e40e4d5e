"""The watchdog: stalls, wall-clock limits and silent model calls end in a clean failure."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from kernel_helpers import (
    EventLog,
    make_llmos,
    read_when_written,
    scheduler_for,
)

from llmos.backends.openai import OpenAIBackend
from llmos.backends.scripted import FunctionBackend, ScriptedBackend
from llmos.errors import ConfigError
from llmos.events import (
    TOLD,
    ModeChosen,
    TaskFailed,
    ToolCallFinished,
    ToolCallStarted,
    WatchdogFired,
)
from llmos.memory import TraceStore
from llmos.outcome import FailureKind, Outcome
from llmos.runtime.watchdog import Watchdog, cancellation_reason
from llmos.testing.fake_llm_script import Fault, Turn
from llmos.testing.fake_llm_server import FakeLLMServer
from llmos.testing.processes import wait_until_gone


def warnings_of(log: EventLog, task_id: str) -> list[str]:
    """The warnings a person reads about ``task_id``: free-form notices and typed events."""
    return [
        e.message
        for e in log.events
        if isinstance(e, TOLD) and e.task_id == task_id and e.level == "warning"
    ]


async def test_a_stalled_task_is_cancelled_by_the_stall_detector(workspace: Path, never):
    async with make_llmos(workspace, FunctionBackend(never)) as llmos:
        log = EventLog(llmos.bus)
        async with Watchdog(llmos.bus, stall_s=0.3, task_timeout_s=60) as watchdog:
            scheduler = scheduler_for(llmos, concurrency=2, watchdog=watchdog)
            handle = await scheduler.submit("wait for a model that never answers", mode="learner")
            result = await handle.result()
            await scheduler.close()
    assert (result.success, result.error_type) == (False, "WatchdogTimeout")
    assert result.error == "watchdog: no progress for 0.3 s (watchdog.stall_s); task cancelled"
    assert warnings_of(log, handle.task_id) == [
        "watchdog: no progress for 0.3 s (watchdog.stall_s); task cancelled; "
        "raise watchdog.stall_s in llmos.toml [watchdog] if the task needs longer"
    ]
    [fired] = log.of(WatchdogFired)
    assert (fired.task_id, fired.setting, fired.limit_s) == (
        handle.task_id,
        "watchdog.stall_s",
        0.3,
    )
    failed = [e for e in log.of(TaskFailed) if e.task_id == handle.task_id]
    assert len(failed) == 1 and handle.status == "cancelled"


async def test_the_wall_clock_limit_fires_while_the_task_keeps_busy(workspace: Path):
    async def busy(request):
        await asyncio.sleep(0.02)  # always some progress: never a stall
        tick = f"echo tick {len(request.messages)}"  # a new call each turn: no loop detected
        return {"tool_calls": [{"name": "Bash", "input": {"command": tick}}]}

    backend = FunctionBackend(busy)
    async with make_llmos(workspace, backend, **{"learner.max_turns": 10_000}) as llmos:
        log = EventLog(llmos.bus)
        async with Watchdog(llmos.bus, task_timeout_s=0.6, stall_s=30) as watchdog:
            scheduler = scheduler_for(llmos, concurrency=1, watchdog=watchdog)
            handle = await scheduler.submit("tick until stopped", mode="learner")
            result = await handle.result()
            await scheduler.close()
    assert result.error_type == "WatchdogTimeout"
    assert result.error == "watchdog: ran for 0.6 s (watchdog.task_timeout_s); task cancelled"
    assert len(log.of(ToolCallFinished)) >= 1
    assert any("watchdog.task_timeout_s" in m for m in warnings_of(log, handle.task_id))
    # The partial run is kept as a failed trace.
    traces = list(TraceStore.for_memory(workspace / "memory").iter())
    assert [t.status for t in traces] == ["failed"]


async def test_a_task_that_swallows_the_cancellation_is_cancelled_again(workspace: Path):
    """Some awaits swallow a cancellation (on Python 3.11, ``wait_for`` whose inner
    future completes as it is cancelled; a library that catches it): the task must
    not run on to max_turns. CI once saw exactly that (MaxTurns, not WatchdogTimeout)."""
    swallowed = []

    async def swallows_once(request):
        if not swallowed:  # the first call waits past the limit and swallows its cancellation
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                swallowed.append(len(request.messages))  # goes on as if nothing happened
        tick = f"echo tick {len(request.messages)}"
        return {"tool_calls": [{"name": "Bash", "input": {"command": tick}}]}

    backend = FunctionBackend(swallows_once)
    llmos = make_llmos(workspace, backend, **{"learner.max_turns": 400})
    async with llmos, Watchdog(llmos.bus, task_timeout_s=0.3, stall_s=30) as watchdog:
        scheduler = scheduler_for(llmos, concurrency=1, watchdog=watchdog)
        handle = await scheduler.submit("tick until stopped", mode="learner")
        result = await handle.result()
        await scheduler.close()
    assert swallowed, "the backend was never cancelled: the test did not test anything"
    assert (result.error_type, result.error) == (
        "WatchdogTimeout",
        "watchdog: ran for 0.3 s (watchdog.task_timeout_s); task cancelled",
    )


class ManualClock:
    """Monotonic seconds that only move when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_time_inside_a_tool_call_counts_for_the_tool_limit_not_the_stall_limit(
    workspace: Path,
):
    sleeper = "sleep 300 & echo $! > child.pid; wait"
    turns = [{"tool_calls": [{"name": "Bash", "input": {"command": sleeper}}]}]
    clock = ManualClock()
    async with make_llmos(workspace, ScriptedBackend(turns)) as llmos:
        log = EventLog(llmos.bus)
        async with Watchdog(llmos.bus, stall_s=10, tool_timeout_s=20, clock=clock) as watchdog:
            scheduler = scheduler_for(llmos, concurrency=1, watchdog=watchdog)
            handle = await scheduler.submit("sleep a while", mode="learner")
            await log.wait_for(lambda e: isinstance(e, ToolCallStarted))
            child = int(await read_when_written(workspace.parent / "child.pid"))
            clock.now += 15  # past the stall limit, inside the tool call
            assert await watchdog.check_all() == []
            clock.now += 10
            [expiry] = await watchdog.check_all()
            result = await handle.result()
            await scheduler.close()
    assert (expiry.setting, expiry.limit_s) == ("watchdog.tool_timeout_s", 20)
    assert result.error == (
        "watchdog: a tool call ran for 20 s (watchdog.tool_timeout_s); task cancelled"
    )
    assert len(warnings_of(log, handle.task_id)) == 1
    assert await wait_until_gone(child)  # the Bash call's process group was killed


async def test_the_stall_limit_counts_from_the_last_event(workspace: Path, never):
    clock = ManualClock()
    async with make_llmos(workspace, FunctionBackend(never)) as llmos:
        log = EventLog(llmos.bus)
        async with Watchdog(llmos.bus, stall_s=10, clock=clock) as watchdog:
            scheduler = scheduler_for(llmos, concurrency=1, watchdog=watchdog)
            handle = await scheduler.submit("wait", mode="learner")
            await log.wait_for(lambda e: isinstance(e, ModeChosen))
            clock.now += 9.9
            assert await watchdog.check_all() == []
            clock.now += 0.1
            [expiry] = await watchdog.check_all()
            assert await watchdog.check_all() == []  # fires once
            await handle.result()
            await scheduler.close()
    assert expiry.setting == "watchdog.stall_s"


async def test_a_server_holding_the_stream_open_is_cut_by_the_llm_call_limit(workspace: Path):
    """The real OpenAI backend against a local server that streams a little, then nothing."""
    with FakeLLMServer() as server:
        server.enqueue(Fault.stall(Turn(text="thinking hard", chunk_size=1), after=3, seconds=30))
        backend = OpenAIBackend("m", base_url=server.url, timeout=60)
        async with make_llmos(workspace, backend) as llmos:
            log = EventLog(llmos.bus)
            async with Watchdog(llmos.bus, llm_call_timeout_s=0.4, stall_s=30) as watchdog:
                for hook in watchdog.hooks():
                    llmos.hooks.register(hook)
                scheduler = scheduler_for(llmos, concurrency=1, watchdog=watchdog)
                handle = await scheduler.submit("think about it", mode="learner")
                result = await handle.result()
                await scheduler.close()
            server.release()
    assert result.error == (
        "watchdog: the model sent nothing for 0.4 s (watchdog.llm_call_timeout_s); task cancelled"
    )
    assert log.of(ModeChosen)[0].backend == "openai"


def test_limits_must_be_positive():
    with pytest.raises(ConfigError, match=re.escape("watchdog.stall_s must be more than 0")):
        Watchdog(None, stall_s=0)  # type: ignore[arg-type]


def test_cancellation_reason_tells_watchdog_limits_from_plain_cancels():
    fired = asyncio.CancelledError("watchdog: no progress for 5 s (watchdog.stall_s); cancelled")
    limit = cancellation_reason(fired)
    assert (limit.message, limit.kind, limit.error_type) == (
        fired.args[0],
        FailureKind.WATCHDOG,
        "WatchdogTimeout",
    )
    assert limit.outcome == Outcome.failed(FailureKind.WATCHDOG, fired.args[0])
    plain = cancellation_reason(asyncio.CancelledError())
    assert (plain.message, plain.kind, plain.error_type) == (
        "cancelled",
        FailureKind.CANCELLED,
        "Cancelled",
    )
    assert cancellation_reason(asyncio.CancelledError("by Ctrl-C")).message == "by Ctrl-C"
