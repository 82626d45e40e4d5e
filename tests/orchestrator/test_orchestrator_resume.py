"""An interrupted orchestration resumes from its saved state, skipping finished subtasks."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from orchestrator_helpers import GOAL, harness, plan_text, subtask, write_then_answer

from llmos.events import Event, PlanMade, SubtaskStarted
from llmos.modes.orchestrator.plan import Plan, Subtask
from llmos.modes.orchestrator.run import resume_orchestration, run_orchestrator
from llmos.modes.orchestrator.state import (
    OrchestrationState,
    StateNotFound,
    SubtaskOutcome,
    load_state,
    save_state,
)
from llmos.outcome import FailureKind
from llmos.testing.scripted_router import Route

PLAN = plan_text(
    subtask("s1", "researcher", "Collect facts about Rust into facts.md"),
    subtask("s2", "writer", "Write the report report.md", "s1"),
)


def s2_route() -> Route:
    return Route(
        pattern="Write the report", turns=write_then_answer("report.md", "# R\n", "report done")
    )


async def test_resume_after_an_interrupt_runs_only_the_unfinished_subtasks(workspace: Path):
    routes = [
        Route(agent="orchestrator", turns=[{"text": PLAN}]),
        Route(pattern="Collect facts", turns=write_then_answer("facts.md", "f\n", "facts found")),
        s2_route(),
    ]
    first = await harness(workspace, routes)
    runner = asyncio.create_task(run_orchestrator(GOAL, ctx=first.ctx, task_id="t-cut"))

    def interrupt(event: Event) -> None:  # Ctrl-C as soon as s2 starts
        if isinstance(event, SubtaskStarted) and event.subtask_id == "s2":
            runner.cancel()

    first.llmos.subscribe(interrupt)
    try:
        with pytest.raises(asyncio.CancelledError):
            await runner
    finally:
        await first.close()
    state = json.loads((workspace / "state" / "t-cut.json").read_text())
    assert state["status"] == "interrupted"
    assert {o["id"]: o["status"] for o in state["outcomes"]} == {"s1": "done", "s2": "pending"}
    assert first.served("Write the report") == 0

    # A new process: only s2 and the synthesis have scripts, so re-running s1 would fail.
    again = await harness(
        workspace, [Route(agent="synthesizer", turns=[{"text": "all done"}]), s2_route()]
    )
    try:
        result = await resume_orchestration("t-cut", ctx=again.ctx)
    finally:
        await again.close()
    assert result.success, result.error
    assert result.text == "all done" and result.planning_calls == 1
    assert [(s.id, s.status) for s in result.subtasks] == [("s1", "done"), ("s2", "done")]
    [plan] = again.of(PlanMade)
    assert plan.resumed and [(s.id, s.state) for s in plan.subtasks] == [
        ("s1", "done"),
        ("s2", "pending"),
    ]
    assert again.told()[0] == "resuming t-cut: 1 subtask(s) left"
    assert again.served("Write the report") == 2
    writer = again.router.requests[0]
    assert "facts found" in writer.messages[0].content  # s1's saved output is passed on
    assert json.loads((workspace / "state" / "t-cut.json").read_text())["status"] == "done"
    assert result.trace_id is not None


async def test_resuming_an_unknown_task_names_the_saved_ones(workspace: Path):
    h = await harness(workspace, [Route(agent="orchestrator", turns=[])])
    try:
        (workspace / "state").mkdir(parents=True)
        (workspace / "state" / "t-old.json").write_text("{}")
        with pytest.raises(StateNotFound, match=r"no saved orchestration 't-nope' in .*t-old"):
            await resume_orchestration("t-nope", ctx=h.ctx)
    finally:
        await h.close()


def test_the_saved_state_keeps_each_failure_kind_typed(workspace: Path):
    state = OrchestrationState(task_id="t-kinds", goal=GOAL)
    state.set_plan(Plan(subtasks=(Subtask(id="s1", description="Collect", agent="researcher"),)))
    state.record(
        SubtaskOutcome(
            id="s1", agent="researcher", status="failed", failure=FailureKind.BUDGET, error="out"
        )
    )
    state.status, state.failure = "failed", FailureKind.BUDGET
    save_state(workspace / "state", state)
    saved = json.loads((workspace / "state" / "t-kinds.json").read_text())
    assert saved["failure"] == "budget" and saved["outcomes"][0]["failure"] == "budget"
    loaded = load_state(workspace / "state", "t-kinds")
    assert loaded.failure is FailureKind.BUDGET
    assert loaded.outcomes["s1"].failure is FailureKind.BUDGET
    loaded.reopen()  # a resume runs it again: the failure is forgotten
    assert loaded.failure is None and loaded.outcomes["s1"].failure is None
