"""Run a plan's subtasks as a DAG: dependencies first, independent ones at the same time.

At most ``concurrency`` subtasks run at once; a subtask starts as soon as all
it depends on are done. A subtask whose dependency failed (or was skipped) is
skipped with that reason; after a subtask fails for lack of budget no new one
starts (the rest are skipped, saying so). Nothing is dropped: every subtask
ends with an outcome, reported through ``on_outcome`` as soon as it is known.
If the run is cancelled, the running subtasks are cancelled and awaited first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import replace
from typing import Any

from llmos.modes.orchestrator.plan import Plan, Subtask
from llmos.modes.orchestrator.state import SubtaskOutcome
from llmos.outcome import FailureKind

RunOne = Callable[[Subtask], Coroutine[Any, Any, SubtaskOutcome]]
OnOutcome = Callable[[SubtaskOutcome], Awaitable[None]]


async def run_dag(
    plan: Plan,
    run_one: RunOne,
    *,
    outcomes: Mapping[str, SubtaskOutcome],
    on_outcome: OnOutcome,
    concurrency: int,
) -> dict[str, SubtaskOutcome]:
    """Run every subtask not already done in ``outcomes``; returns all outcomes.

    Example:
        >>> results = await run_dag(plan, run_one, outcomes={}, on_outcome=save, concurrency=3)
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    results = dict(outcomes)
    pending = [s for s in plan.subtasks if not (s.id in results and results[s.id].finished)]
    running: dict[asyncio.Task[SubtaskOutcome], Subtask] = {}
    halted: str | None = None
    try:
        while pending or running:
            for subtask in list(pending):
                reason = halted or _blocked_by(subtask, results)
                if reason:
                    pending.remove(subtask)
                    skipped = _skip(subtask, results, reason)
                    results[subtask.id] = skipped
                    await on_outcome(skipped)
            ready = [s for s in pending if all(_done(results, d) for d in s.depends_on)]
            for subtask in ready[: concurrency - len(running)]:
                pending.remove(subtask)
                running[asyncio.create_task(run_one(subtask), name=f"subtask {subtask.id}")] = (
                    subtask
                )
            if not running:
                break
            finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                subtask = running.pop(task)
                outcome = task.result()
                results[subtask.id] = outcome
                await on_outcome(outcome)
                if outcome.failure is FailureKind.BUDGET and halted is None:
                    halted = f"not started: the budget ran out at subtask {subtask.id}"
    except BaseException:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        raise
    return results


def _done(results: Mapping[str, SubtaskOutcome], subtask_id: str) -> bool:
    return subtask_id in results and results[subtask_id].finished


def _blocked_by(subtask: Subtask, results: Mapping[str, SubtaskOutcome]) -> str:
    for dependency in subtask.depends_on:
        outcome = results.get(dependency)
        if outcome is not None and outcome.status in ("failed", "skipped"):
            verb = "failed" if outcome.status == "failed" else "was skipped"
            return f"depends on {dependency}, which {verb}"
    return ""


def _skip(subtask: Subtask, results: Mapping[str, SubtaskOutcome], reason: str) -> SubtaskOutcome:
    before = results.get(subtask.id) or SubtaskOutcome(id=subtask.id, agent=subtask.agent)
    return replace(before, status="skipped", error=reason, error_type="Skipped")
