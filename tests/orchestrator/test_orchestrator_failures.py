"""What the orchestrator does when things go wrong: bad plans, failing subtasks, no budget."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from orchestrator_helpers import (
    GOAL,
    PRICED,
    Harness,
    harness,
    plan_text,
    subtask,
    three_routes,
    write_then_answer,
)

from llmos.backends.base import request_tokens
from llmos.economy import DEFAULT_PRICES, TokenEconomy
from llmos.events import SubtaskFailed, SubtaskSkipped, UsageUpdated
from llmos.hooks.budget import MIN_ANSWER_TOKENS, projected_usage
from llmos.memory import TraceStore
from llmos.messages import AssistantMessage, Usage, UserMessage
from llmos.modes.orchestrator.run import run_orchestrator
from llmos.outcome import FailureKind
from llmos.testing.scripted_router import Route

VALID = plan_text(
    subtask("s1", "researcher", "Collect facts about Rust into facts.md"),
    subtask("s2", "writer", "Write the report report.md", "s1"),
)


async def test_a_malformed_plan_is_retried_once_with_the_error_shown_to_the_model(
    workspace: Path,
):
    routes = [
        Route(agent="orchestrator", turns=[{"text": "Sure! Here is my plan: step 1, step 2."}]),
        Route(agent="orchestrator", turns=[{"text": VALID}]),
        Route(agent="synthesizer", turns=[{"text": "done"}]),
        Route(pattern="Collect facts", turns=write_then_answer("facts.md", "x", "facts")),
        Route(pattern="Write the report", turns=write_then_answer("report.md", "y", "report")),
    ]
    h = await harness(workspace, routes)
    try:
        result = await run_orchestrator(GOAL, ctx=h.ctx)
    finally:
        await h.close()
    assert result.success, result.error
    assert result.planning_calls == 2
    retry = [r for r in h.router.requests if r.agent == "orchestrator"][1]
    assert isinstance(retry.messages[1], AssistantMessage)
    assert retry.messages[1].text == "Sure! Here is my plan: step 1, step 2."
    assert isinstance(retry.messages[2], UserMessage)
    assert retry.messages[2].content.startswith(
        "That plan cannot be used: the answer holds no JSON object"
    )
    assert any(n.startswith("the plan is invalid") for n in h.notices())


async def test_a_plan_still_malformed_after_the_retry_fails_the_task_showing_the_output(
    workspace: Path,
):
    bad = '{"subtasks": [{"id": "s1", "description": "x", "agent": "astrologer"}]}'
    routes = [Route(agent="orchestrator", turns=[{"text": "no plan today"}, {"text": bad}])]
    h = await harness(workspace, routes)
    try:
        result = await run_orchestrator(GOAL, ctx=h.ctx, task_id="t-bad")
    finally:
        await h.close()
    assert not result.success and result.error_type == "PlanInvalid"
    assert result.error.startswith(
        "the model's plan is still invalid after one retry: subtask s1 names agent "
        "'astrologer', which does not exist; use one of coder, data-analyst, researcher, "
        "reviewer, writer, or define a new agent inline as an object"
    )
    assert result.error.endswith(f"The model answered:\n{bad}")
    assert result.planning_calls == 2 and result.subtasks == ()
    state = json.loads((workspace / "state" / "t-bad.json").read_text())
    assert state["status"] == "failed" and state["plan"] is None
    assert TokenEconomy(workspace / "ledger.sqlite").report().open_reservations == 0


async def test_a_failing_subtask_is_retried_then_reported_with_the_partial_results(
    workspace: Path,
):
    plan = plan_text(
        subtask("s1", "researcher", "Collect facts about Rust into facts.md"),
        subtask("s2", "data-analyst", "Count the Rust releases"),
        subtask("s3", "writer", "Write the report report.md", "s1", "s2"),
    )
    routes = [
        Route(agent="orchestrator", turns=[{"text": plan}]),
        Route(pattern="Collect facts", turns=write_then_answer("facts.md", "x", "Rust is 10.")),
        Route(pattern="Count the Rust releases", fail="HTTP 500 from the model server"),
    ]
    h = await harness(workspace, routes, retries=1)
    try:
        result = await run_orchestrator(GOAL, ctx=h.ctx)
    finally:
        await h.close()
    assert not result.success and result.error_type == "SubtaskFailed"
    assert result.outcome.kind is FailureKind.SUBTASK_FAILED
    s1, s2, s3 = result.subtasks
    assert (s1.status, s1.text) == ("done", "Rust is 10.")
    assert (s2.status, s2.attempts, s2.error) == ("failed", 2, "HTTP 500 from the model server")
    assert (s3.status, s3.error) == ("skipped", "depends on s2, which failed")
    assert h.served("Count the Rust releases") == 2
    assert h.served("synthesizer") == 0  # nothing to merge: no synthesis call is paid for
    assert result.text.splitlines()[0] == "Partial result: 1 of 3 subtasks done."
    assert "## s1 [researcher] done\nRust is 10." in result.text
    assert "## s2 [data-analyst] failed after 2 attempt(s): HTTP 500" in result.text
    assert "## s3 [writer] skipped: depends on s2, which failed" in result.text
    first, second = [e for e in h.of(SubtaskFailed) if e.subtask_id == "s2"]
    assert (first.attempt, first.attempts, first.retrying) == (1, 2, True)
    assert (second.attempt, second.retrying) == (2, False)
    assert first.failure is FailureKind.BACKEND_ERROR
    [skipped] = h.of(SubtaskSkipped)
    assert (skipped.subtask_id, skipped.reason) == ("s3", "depends on s2, which failed")
    assert "subtask s2 failed (attempt 1/2): HTTP 500 from the model server; retrying" in (h.told())
    traces = list(TraceStore.for_memory(workspace / "memory").iter())
    assert "orchestrator" not in {e.mode for e in traces}


async def test_budget_running_out_mid_plan_stops_before_the_call_and_skips_the_rest(
    workspace: Path, tmp_path: Path
):
    long_goal = "Count the Rust releases. " + "Use the changelog only. " * 80
    plan = plan_text(
        subtask("s1", "researcher", "Collect facts about Rust"),
        subtask("s2", "data-analyst", long_goal.strip()),
        subtask("s3", "writer", "Write the report report.md"),
    )

    def routes() -> list[Route]:
        return [
            Route(agent="orchestrator", turns=[{"text": plan}]),
            Route(agent="synthesizer", turns=[{"text": "merged"}]),
            Route(pattern="Collect facts", turns=[{"text": "Rust is 10."}]),
            Route(pattern="Count the Rust releases", turns=[{"text": "80"}]),
            Route(pattern="Write the report", turns=[{"text": "written"}]),
        ]

    # Calibrate on an unlimited run: what planning and s1 cost, and what the shortest
    # answer worth a call (MIN_ANSWER_TOKENS) costs after each subtask's prompt.
    probe = await harness(tmp_path / "probe", routes(), concurrency=1)
    try:
        await run_orchestrator(GOAL, ctx=probe.ctx)
    finally:
        await probe.close()
    s1_floor, s2_floor = [
        DEFAULT_PRICES.cost_usd(
            PRICED, replace(projected_usage(r), output_tokens=MIN_ANSWER_TOKENS)
        ).usd
        for r in probe.router.requests
        if r.agent not in ("orchestrator", "synthesizer")
    ][:2]
    assert s2_floor > s1_floor
    spent_after_s1 = sum(
        DEFAULT_PRICES.cost_usd(PRICED, usage).usd
        for usage in _usages(probe)[:2]  # the planning call and s1's call
    )
    # s1's call fits (capped, if need be); not even a short answer to s2's fits after it.
    total = spent_after_s1 + (s1_floor + s2_floor) / 2
    h = await harness(workspace, routes(), concurrency=1)
    TokenEconomy(workspace / "ledger.sqlite").set_budget(total)
    try:
        result = await run_orchestrator(GOAL, ctx=h.ctx)
    finally:
        await h.close()
    assert not result.success and result.error_type == "BudgetExceeded"
    s1, s2, s3 = result.subtasks
    assert s1.status == "done"
    assert (s2.status, s2.attempts, s2.error_type) == ("failed", 1, "BudgetExceeded")
    assert s2.failure is FailureKind.BUDGET and result.outcome.kind is FailureKind.BUDGET
    assert s2.error.startswith("stopped before the next model call: budget: ")
    assert (s3.status, s3.error) == ("skipped", "not started: the budget ran out at subtask s2")
    assert h.served("Count the Rust releases") == 0  # refused before the call, not after
    report = TokenEconomy(workspace / "ledger.sqlite").report()
    assert report.spent_usd <= total and report.open_reservations == 0


def _usages(h: Harness) -> list[Usage]:
    return [e.usage for e in h.events if isinstance(e, UsageUpdated)]


async def test_an_agent_defined_in_the_plan_is_written_as_generated_and_used(workspace: Path):
    translator = {
        "name": "translator",
        "description": "Translates English text into French.",
        "tools": ["Read", "Write"],
        "prompt": "You translate English into natural French. Keep the Markdown intact.",
    }
    plan = plan_text(
        subtask("s1", translator, "Translate the greeting into greeting_fr.txt"),
        subtask("s2", "reviewer", "Review greeting_fr.txt", "s1"),
    )
    routes = [
        *three_routes(plan)[:2],
        Route(
            pattern="Translate the greeting",
            turns=write_then_answer("greeting_fr.txt", "Bonjour\n", "greeting_fr.txt written."),
        ),
        Route(pattern="Review greeting_fr.txt", turns=[{"text": "approve"}]),
    ]
    h = await harness(workspace, routes)
    try:
        result = await run_orchestrator("Translate the greeting and review it", ctx=h.ctx)
    finally:
        await h.close()
    assert result.success, result.error
    path = workspace / "agents" / "translator.md"
    text = path.read_text()
    assert text.startswith("---\nname: translator\n") and "generated: true\n" in text
    assert f"new agent translator written to {path} (generated)" in h.notices()
    request = next(r for r in h.router.requests if r.agent == "translator")
    assert request.system.endswith(translator["prompt"])
    assert sorted(t.name for t in request.tools) == ["Read", "Write"]
    assert request_tokens(request) > 0


async def test_a_planning_call_the_budget_can_partly_pay_is_sent_with_a_lower_max_tokens(
    workspace: Path, tmp_path: Path
):
    """Issue 15: the orchestrator's own calls pass the same check as every call, so a
    budget that pays the planning prompt and a shorter answer lowers ``max_tokens``
    instead of refusing the call (before, the orchestration stopped before planning)."""
    probe = await harness(tmp_path / "probe", three_routes(), concurrency=1)
    try:
        await run_orchestrator(GOAL, ctx=probe.ctx)
    finally:
        await probe.close()
    planning = probe.router.requests[0]
    assert planning.agent == "orchestrator" and planning.max_tokens == 4096
    # The planning prompt and 1,000 tokens of answer, no more.
    total = DEFAULT_PRICES.cost_usd(
        PRICED, replace(projected_usage(planning), output_tokens=1_000)
    ).usd
    h = await harness(workspace, three_routes(), concurrency=1)
    TokenEconomy(workspace / "ledger.sqlite").set_budget(total)
    try:
        await run_orchestrator(GOAL, ctx=h.ctx)
    finally:
        await h.close()
    sent = h.router.requests[0]
    assert sent.agent == "orchestrator" and MIN_ANSWER_TOKENS <= sent.max_tokens < 1_000
    report = TokenEconomy(workspace / "ledger.sqlite").report()
    assert report.calls >= 1 and report.spent_usd <= total and report.open_reservations == 0
