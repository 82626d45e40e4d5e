"""The orchestrator end to end on a real dispatcher: plan, DAG, synthesis, trace, replay."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from orchestrator_helpers import GOAL, harness, three_routes

from llmos.economy import TokenEconomy
from llmos.events import PlanMade, SubtaskFinished, SubtaskStarted, TaskFinished, TaskStarted
from llmos.memory import TraceStore
from llmos.messages import UserMessage
from llmos.modes.orchestrator.run import run_orchestrator
from llmos.testing.scripted_router import Route


def first_user_text(request) -> str:
    return next(m.content for m in request.messages if isinstance(m, UserMessage))


async def test_independent_subtasks_run_concurrently_and_the_dependent_waits_for_both(
    workspace: Path,
):
    h = await harness(workspace, three_routes())
    try:
        result = await run_orchestrator(GOAL, ctx=h.ctx, task_id="t-three")
    finally:
        await h.close()
    assert result.success, result.error
    assert result.text == "report.md: Rust 1.0 (2015), 80 releases."
    assert [s.status for s in result.subtasks] == ["done", "done", "done"]
    # Concurrency, shown by events: s2 starts before s1 finishes (and the other way round),
    # and s3 starts only after both are done.
    s1_start, s2_start = h.position(SubtaskStarted, "s1"), h.position(SubtaskStarted, "s2")
    s1_done, s2_done = h.position(SubtaskFinished, "s1"), h.position(SubtaskFinished, "s2")
    assert max(s1_start, s2_start) < min(s1_done, s2_done)
    assert h.position(SubtaskStarted, "s3") > max(s1_done, s2_done)
    started = {e.subtask_id: (e.subtask_task_id, e.agent) for e in h.of(SubtaskStarted)}
    assert started["s3"] == ("t-three.s3", "writer")
    done = {e.subtask_id: e for e in h.of(SubtaskFinished)}
    assert done["s1"].subtask_task_id == "t-three.s1" and done["s1"].cost_usd > 0
    # The dispatcher's own events agree: both subtask tasks start before either finishes.
    kinds = [
        (type(e).__name__, e.task_id) for e in h.events if isinstance(e, TaskStarted | TaskFinished)
    ]
    assert sorted(kinds[:2]) == [("TaskStarted", "t-three.s1"), ("TaskStarted", "t-three.s2")]
    assert kinds[-2:] == [("TaskStarted", "t-three.s3"), ("TaskFinished", "t-three.s3")]
    # The plan was shown before anything ran, and saved in the state folder.
    [plan] = h.of(PlanMade)
    assert h.events.index(plan) < s1_start
    assert [(s.id, s.agent, s.depends_on, s.state) for s in plan.subtasks] == [
        ("s1", "researcher", (), "pending"),
        ("s2", "data-analyst", (), "pending"),
        ("s3", "writer", ("s1", "s2"), "pending"),
    ]
    assert (plan.parallel, plan.replayed_from, plan.resumed) == (2, None, False)
    assert h.told()[0].startswith(
        "plan: 3 subtasks · agents data-analyst, researcher, writer · 2 in parallel"
    )
    state = json.loads((workspace / "state" / "t-three.json").read_text())
    assert state["status"] == "done"
    assert [s["id"] for s in state["plan"]["subtasks"]] == ["s1", "s2", "s3"]
    # The writer got both outputs; each agent ran with its prompt and only its tools.
    writer = next(r for r in h.router.requests if "Write the report" in first_user_text(r))
    assert "Rust 1.0 shipped in 2015." in first_user_text(writer)
    assert "There were 80 releases." in first_user_text(writer)
    assert "You are a technical writer" in writer.system
    assert sorted(t.name for t in writer.tools) == ["Edit", "Glob", "LS", "Read", "Write"]
    assert (h.output / "report.md").read_text() == "# Rust\n"
    assert h.served("orchestrator") == 1 and h.served("synthesizer") == 1


async def test_a_successful_orchestration_is_saved_as_a_trace_and_charged_to_one_budget(
    workspace: Path,
):
    h = await harness(workspace, three_routes())
    try:
        result = await run_orchestrator(GOAL, ctx=h.ctx)
    finally:
        await h.close()
    store = TraceStore.for_memory(workspace / "memory")
    trace = store.load(result.trace_id)
    assert trace.mode == "orchestrator" and trace.goal == GOAL
    assert [s.tool for s in trace.steps] == ["Subtask"] * 3
    subtask_traces = [s.input["trace_id"] for s in trace.steps]
    assert subtask_traces == [s.trace_id for s in result.subtasks]
    assert all(store.load(t).mode == "learner" for t in subtask_traces)
    assert trace.steps[2].input["depends_on"] == ["s1", "s2"]
    assert trace.final_answer == result.text
    assert trace.extra["orchestration"]["agents"] == ["data-analyst", "researcher", "writer"]
    report = TokenEconomy(workspace / "ledger.sqlite").report()
    assert report.spent_usd > 0
    assert abs(report.spent_usd - result.cost_usd) < 1e-6
    assert abs(trace.cost_usd - result.cost_usd) < 1e-9
    assert report.open_reservations == 0
    # One reservation, the orchestration's; every call (its own and its subtasks') charged to it.
    with sqlite3.connect(workspace / "ledger.sqlite") as db:
        reservations = db.execute("SELECT id, mode, state FROM reservations").fetchall()
        charges = db.execute("SELECT reservation_id, mode FROM charges").fetchall()
    assert [(mode, state) for _, mode, state in reservations] == [("orchestrator", "released")]
    assert {reservation for reservation, _ in charges} == {reservations[0][0]}
    assert sorted(mode for _, mode in charges) == ["learner"] * 6 + ["orchestrator"] * 2


async def test_the_same_goal_replays_the_plan_and_every_subtask_with_no_backend_call(
    workspace: Path,
):
    first = await harness(workspace, three_routes())
    try:
        learned = await run_orchestrator(GOAL, ctx=first.ctx)
    finally:
        await first.close()
    for name in ("facts.md", "releases.txt", "report.md"):
        (workspace.parent / name).unlink()
    again = await harness(workspace, [Route(pattern=".", fail="no model call expected")])
    try:
        replayed = await run_orchestrator(GOAL, ctx=again.ctx)
    finally:
        await again.close()
    assert replayed.success, replayed.error
    assert again.router.requests == []
    assert replayed.planning_calls == 0 and replayed.cost_usd == 0
    assert replayed.replayed_from == learned.trace_id == replayed.trace_id
    assert [s.mode for s in replayed.subtasks] == ["follower"] * 3
    assert replayed.text == learned.text
    assert replayed.saved_usd > 0
    assert (workspace.parent / "report.md").read_text() == "# Rust\n"
    [plan] = again.of(PlanMade)
    assert plan.replayed_from == learned.trace_id and plan.confidence
    assert plan.message.startswith(f"replaying the plan of trace {learned.trace_id}")
    trace = TraceStore.for_memory(workspace / "memory").load(learned.trace_id)
    assert (trace.use_count, trace.replay_successes) == (1, 1)


async def test_a_subtask_that_matches_a_trace_is_served_by_the_follower(workspace: Path):
    routes = [
        Route(
            agent="orchestrator",
            turns=[
                {
                    "text": json.dumps(
                        {
                            "subtasks": [
                                {"id": "s1", "description": "Create hello.txt", "agent": "coder"},
                                {
                                    "id": "s2",
                                    "description": "Review hello.txt for typos",
                                    "agent": "reviewer",
                                    "depends_on": ["s1"],
                                },
                            ]
                        }
                    )
                }
            ],
        ),
        Route(agent="synthesizer", turns=[{"text": "hello.txt exists and reads well."}]),
        Route(pattern="Review hello.txt", turns=[{"text": "approve"}]),
        Route(  # learned once, before the orchestration, as a plain task
            pattern="Create hello.txt",
            turns=[
                {
                    "tool_calls": [
                        {"name": "Write", "input": {"file_path": "hello.txt", "content": "hi\n"}}
                    ]
                },
                {"text": "hello.txt created."},
            ],
        ),
    ]
    h = await harness(workspace, routes)
    try:
        learned = await h.llmos.execute("Create hello.txt")
        assert learned.mode == "learner"
        (h.output / "hello.txt").unlink()
        result = await run_orchestrator("Create hello.txt, then review it", ctx=h.ctx)
    finally:
        await h.close()
    assert result.success, result.error
    s1, s2 = result.subtasks
    assert (s1.mode, s1.trace_id, s1.cost_usd, s1.text) == (
        "follower",
        learned.trace_id,
        0.0,
        "hello.txt created.",
    )
    assert s2.mode == "learner"
    assert h.served("Create hello.txt") == 2  # both turns of the plain run; none for s1
    assert (h.output / "hello.txt").read_text() == "hi\n"


async def test_concurrency_limit_of_one_runs_independent_subtasks_one_after_the_other(
    workspace: Path,
):
    h = await harness(workspace, three_routes(), concurrency=1)
    try:
        result = await run_orchestrator(GOAL, ctx=h.ctx)
    finally:
        await h.close()
    assert result.success
    assert h.position(SubtaskFinished, "s1") < h.position(SubtaskStarted, "s2")


async def test_a_goal_differing_in_a_file_name_replays_the_plan_with_the_new_name(
    workspace: Path,
):
    first = await harness(workspace, three_routes())
    try:
        learned = await run_orchestrator(GOAL, ctx=first.ctx)
    finally:
        await first.close()
    variant = GOAL.replace("report.md", "summary.md")
    again = await harness(workspace, [Route(pattern=".", fail="no model call expected")])
    try:
        replayed = await run_orchestrator(variant, ctx=again.ctx)
    finally:
        await again.close()
    assert replayed.success, replayed.error
    assert again.router.requests == [] and replayed.replayed_from == learned.trace_id
    assert replayed.plan.subtasks[2].description == (
        "Write the report summary.md from the facts and counts"
    )
    assert replayed.text == "summary.md: Rust 1.0 (2015), 80 releases."
    assert (workspace.parent / "summary.md").read_text() == "# Rust\n"
