"""The scheduler: a concurrency limit seen in events, fairness, priority, cancellation."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from kernel_helpers import EventLog, make_llmos, scheduler_for

from llmos.backends.scripted import FunctionBackend, ScriptedBackend
from llmos.errors import ConfigError
from llmos.events import ModeChosen, TaskFailed, TaskFinished, TaskQueued, TaskStarted
from llmos.runtime.scheduler import FairQueue, Scheduler, Submission


def concurrency_seen(log: EventLog) -> int:
    """The most tasks between their TaskStarted and their end, over the event stream."""
    running = peak = 0
    for event in log.events:
        if isinstance(event, TaskStarted):
            running += 1
            peak = max(peak, running)
        elif isinstance(event, TaskFinished | TaskFailed):
            running -= 1
    return peak


async def test_twenty_tasks_with_a_limit_of_four_never_run_more_than_four(workspace: Path):
    backend = ScriptedBackend([{"text": "done"}] * 20, delay_s=0.02)
    async with make_llmos(workspace, backend) as llmos:
        log = EventLog(llmos.bus)
        scheduler = scheduler_for(llmos, concurrency=4)
        handles = [
            await scheduler.submit(f"task {n}", mode="learner", project=f"p{n % 3}")
            for n in range(20)
        ]
        results = await asyncio.gather(*(h.result() for h in handles))
        await scheduler.close()
    # "task N" names nothing to check: each run finished and is unverified, not failed.
    assert all(not r.failed and r.text == "done" for r in results)
    assert concurrency_seen(log) == 4
    assert len(log.of(TaskStarted)) == 20 and len(log.of(TaskFinished)) == 20
    assert {h.status for h in handles} == {"done"}
    queued = log.of(TaskQueued)
    assert len(queued) == 16
    assert "(scheduler.concurrency = 4)" in queued[0].message
    assert (queued[0].concurrency, queued[0].position) == (4, 1)
    assert all(1 <= q.position <= q.waiting and q.running <= 4 for q in queued)


async def test_projects_take_turns_at_equal_priority(workspace: Path):
    backend = ScriptedBackend([{"text": "ok"}] * 6)
    async with make_llmos(workspace, backend) as llmos:
        log = EventLog(llmos.bus)
        scheduler = scheduler_for(llmos, concurrency=1)
        for name in ("a1", "a2", "a3", "a4"):
            await scheduler.submit(f"goal {name}", mode="learner", project="alpha", task_id=name)
        for name in ("b1", "b2"):
            await scheduler.submit(f"goal {name}", mode="learner", project="beta", task_id=name)
        await scheduler.join()
    order = [e.task_id for e in log.of(TaskStarted)]
    assert order == ["a1", "a2", "b1", "a3", "b2", "a4"]


async def test_higher_priority_runs_first(workspace: Path):
    backend = ScriptedBackend([{"text": "ok"}] * 4)
    async with make_llmos(workspace, backend) as llmos:
        log = EventLog(llmos.bus)
        scheduler = scheduler_for(llmos, concurrency=1)
        await scheduler.submit("first", mode="learner", task_id="first")
        await scheduler.submit("low", mode="learner", priority=0, task_id="low")
        await scheduler.submit("high", mode="learner", priority=5, task_id="high")
        await scheduler.submit("mid", mode="learner", priority=1, task_id="mid")
        await scheduler.join()
    assert [e.task_id for e in log.of(TaskStarted)] == ["first", "high", "mid", "low"]


def test_the_fair_queue_removes_a_task_from_the_middle():
    queue = FairQueue()
    subs = [
        Submission(task_id=f"t{n}", goal="g", mode=None, project=p, priority=0, submitted_at=n)
        for n, p in enumerate(["x", "x", "y", None])
    ]
    for sub in subs:
        queue.push(sub)
    assert queue.remove("t1") is subs[1]
    assert queue.remove("nope") is None
    assert [queue.pop(), queue.pop(), queue.pop(), queue.pop()] == [subs[0], subs[2], subs[3], None]
    assert len(queue) == 0


async def test_cancelling_a_queued_task_removes_it_before_it_starts(workspace: Path, never):
    async with make_llmos(workspace, FunctionBackend(never)) as llmos:
        log = EventLog(llmos.bus)
        scheduler = scheduler_for(llmos, concurrency=1)
        blocker = await scheduler.submit("hang", mode="learner")
        queued = await scheduler.submit("waits", mode="learner")
        assert [i.status for i in scheduler.list()] == ["running", "queued"]
        assert await scheduler.cancel(queued.task_id) is True
        result = await queued.result()
        assert await scheduler.cancel(queued.task_id) is False  # already over
        await scheduler.close()
        assert (await blocker.result()).error_type == "Cancelled"
    assert (result.success, result.error_type) == (False, "Cancelled")
    assert result.error == "cancelled on request before it started"
    assert queued.status == "cancelled"
    assert queued.task_id not in {e.task_id for e in log.of(TaskStarted)}
    failed = [e for e in log.of(TaskFailed) if e.task_id == queued.task_id]
    assert [e.error_type for e in failed] == ["Cancelled"]


async def test_cancelling_a_running_task_ends_it_cleanly(workspace: Path, never):
    async with make_llmos(workspace, FunctionBackend(never)) as llmos:
        log = EventLog(llmos.bus)
        scheduler = scheduler_for(llmos, concurrency=2)
        handle = await scheduler.submit("hang forever", mode="learner")
        await log.wait_for(lambda e: isinstance(e, ModeChosen) and e.task_id == handle.task_id)
        assert handle.status == "running"
        assert await scheduler.cancel(handle.task_id) is True
        result = await handle.result()
        assert scheduler.running == 0
        await scheduler.close()
    assert (result.success, result.error_type, handle.status) == (False, "Cancelled", "cancelled")
    assert result.error == "cancelled on request"
    failed = [e for e in log.of(TaskFailed) if e.task_id == handle.task_id]
    assert [e.error_type for e in failed] == ["Cancelled"]  # published by the dispatcher


async def test_a_run_that_raises_hands_the_error_to_the_result(workspace: Path):
    async def run(sub: Submission):
        raise ConfigError(f"no such mode {sub.mode!r}", key="mode")

    async with make_llmos(workspace, ScriptedBackend([])) as llmos:
        scheduler = Scheduler(run, concurrency=2, bus=llmos.bus)
        handle = await scheduler.submit("anything", mode="bogus")
        with pytest.raises(ConfigError, match=re.escape("no such mode 'bogus'")):
            await handle.result()
        assert handle.status == "failed"
        await scheduler.close()


async def test_bad_limits_and_closed_schedulers_are_clear_errors(workspace: Path):
    async with make_llmos(workspace, ScriptedBackend([])) as llmos:
        with pytest.raises(ConfigError, match=re.escape("at least 1, got 0")):
            scheduler_for(llmos, concurrency=0)
        scheduler = scheduler_for(llmos, concurrency=1)
        await scheduler.close()
        with pytest.raises(ConfigError, match="the scheduler is closed"):
            await scheduler.submit("late")
