"""The dashboard in a real headless Chromium, against a real ``llmos serve``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright
from server_helpers import HELLO_SCRIPT

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 30_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
]


def run_goal(page: Page, goal: str) -> None:
    """Submit a goal with the form and wait for its run to end in the live panel."""
    page.fill("#goal", goal)
    page.click("#run-button")
    expect(page.locator("#stream-goal")).to_have_text(goal, timeout=WAIT_MS)
    ended = page.locator(
        '#events li[data-kind="task-finished"], #events li[data-kind="task-failed"]'
    )
    expect(ended).to_have_count(1, timeout=WAIT_MS)


def test_the_dashboard_runs_a_goal_streams_it_and_shows_the_trace_and_savings(serve):
    server = serve(script=HELLO_SCRIPT)
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on(
            "console",
            lambda message: problems.append(message.text) if message.type == "error" else None,
        )
        page.goto(server.url + "/")
        expect(page.locator("#tasks-empty")).to_be_visible()
        expect(page.locator("#server-info")).to_contain_text(str(server.workspace))

        # First run: learned by the scripted model, streamed event by event.
        run_goal(page, "Create hello.txt")
        events = page.locator("#events")
        expect(events.locator('[data-kind="mode-chosen"]')).to_contain_text("learner")
        expect(events.locator(".ev.text").first).to_have_text("I will create the file.")
        expect(events.locator('[data-tool="Write"]')).to_contain_text("hello.txt")
        expect(events.locator('[data-tool="Bash"]')).to_contain_text("✓ exit 0")
        expect(events.locator('[data-kind="task-finished"]')).to_contain_text("✓ done in")
        expect(page.locator('#task-list [data-status="done"]')).to_have_count(1, timeout=WAIT_MS)
        rows = page.locator("#trace-rows tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("Create hello.txt")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-learned.png"))

        # Second run: followed from the trace, for free, and the saving shows everywhere.
        run_goal(page, "create hello.txt")
        expect(events.locator('[data-kind="mode-chosen"]')).to_contain_text("follower")
        expect(events.locator('[data-kind="task-finished"]')).to_contain_text("saved $0.0")
        expect(rows.first).to_contain_text("✓1")
        expect(page.locator("#savings li")).to_contain_text("Create hello.txt")
        expect(page.locator("#chart rect.bar-save")).not_to_have_count(0)
        expect(page.locator("#tiles .tile.save")).to_contain_text("1 free replays")

        # The library: search, then open the trace rendered from its Markdown.
        page.fill("#trace-search", "zebra")
        expect(page.locator("#traces-empty")).to_have_text("No trace matches “zebra”.")
        page.fill("#trace-search", "hello")
        expect(rows).to_have_count(1)
        rows.first.click()
        view = page.locator("#trace-view")
        expect(view.locator(".markdown h1")).to_have_text("Create hello.txt")
        expect(view.locator(".history")).to_contain_text("replays ok")
        expect(view.locator(".history b.good")).to_have_text("1")

        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

        # The API docs work offline too: Swagger UI is served from a package, not a CDN.
        page.goto(server.url + "/docs")
        expect(page.locator(".swagger-ui .opblock-summary-path").first).to_be_visible()
        expect(
            page.locator('.opblock-summary-path[data-path="/tasks/{task_id}/events"]')
        ).to_have_count(1)
        browser.close()
    assert problems == []


def test_the_dashboard_badges_a_run_that_did_not_do_the_job_as_failed(serve):
    """The model answers without creating the file: the task and its trace are red, with why."""
    server = serve(script=[{"text": "Created missing.txt."}])
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.goto(server.url + "/")
        run_goal(page, "Create missing.txt")
        failed = page.locator('#events [data-kind="task-failed"]')
        expect(failed).to_contain_text("✗ failed (acceptance-failed)")
        expect(failed).to_contain_text("file missing.txt does not exist")
        task = page.locator('#task-list [data-outcome="failed"]')
        expect(task).to_have_count(1, timeout=WAIT_MS)
        expect(task.locator(".badge.failed")).to_have_text("failed · acceptance-failed")
        row = page.locator("#trace-rows tr").first
        expect(row.locator(".badge.failed")).to_have_text("failed · acceptance-failed")
        expect(row).to_contain_text("scripted")
        page.screenshot(path=str(ARTIFACTS / "dashboard-failed.png"), full_page=True)
        browser.close()


PLAN = {
    "subtasks": [
        {"id": "s1", "description": "Collect the facts about Rust", "agent": "researcher"},
        {"id": "s2", "description": "Count the Rust releases", "agent": "data-analyst"},
        {
            "id": "s3",
            "description": "Write notes.md from the facts and the count",
            "agent": "writer",
            "depends_on": ["s1", "s2"],
        },
    ]
}
ORCHESTRATION_GOAL = "Collect the facts about Rust and count its releases, then write notes.md"
#: Watches the plan's cards and keeps every state each one went through, in order.
RECORD_STATES = """() => {
  window.seen = {};
  const note = (id, state) => {
    const states = (window.seen[id] ||= []);
    if (states.at(-1) !== state) states.push(state);
  };
  const root = document.getElementById("plan-waves");
  new MutationObserver((changes) => {
    for (const change of changes) {
      if (change.type === "attributes") note(change.target.dataset.subtask, change.oldValue);
    }
    for (const card of root.querySelectorAll(".subtask")) {
      note(card.dataset.subtask, card.dataset.state);
    }
  }).observe(root, {
    subtree: true, childList: true, attributes: true, attributeOldValue: true,
    attributeFilter: ["data-state"],
  });
}"""


def run_orchestration(page: Page) -> None:
    """Submit the goal in orchestrator mode; wait for the orchestration's own last event."""
    page.evaluate(RECORD_STATES)
    page.fill("#goal", ORCHESTRATION_GOAL)
    page.select_option("#mode", "orchestrator")
    page.click("#run-button")
    task = page.locator("#task-list li.task").first
    expect(task).to_have_attribute("data-outcome", re.compile(r"\w"), timeout=WAIT_MS)


def test_the_dashboard_draws_the_plan_and_each_subtasks_state_live(serve):
    server = serve(
        script=[
            {"text": json.dumps(PLAN)},
            {"text": "Rust 1.0 shipped in 2015."},
            {"text": "There were 80 releases."},
            {"tool_calls": [{"name": "Write", "input": {"file_path": "notes.md", "content": "n"}}]},
            {"text": "notes.md is written."},
            {"text": "notes.md holds the facts and the count."},
        ]
    )
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.goto(server.url + "/")
        expect(page.locator("#mode option[value=orchestrator]")).to_have_count(1)
        run_orchestration(page)
        expect(page.locator('#events [data-kind="task-finished"]').last).to_contain_text("✓ done")

        plan = page.locator("#plan")
        expect(plan).to_be_visible()
        expect(page.locator("#plan-summary")).to_have_text("(3 subtasks)")
        # Drawn in waves: s1 and s2 side by side, s3 in the next column, after both.
        first, second = page.locator("#plan-waves .wave").all()
        expect(first.locator(".subtask")).to_have_count(2)
        expect(second.locator('.subtask[data-subtask="s3"]')).to_contain_text("after s1, s2")
        expect(second.locator('.subtask[data-subtask="s3"] .agent')).to_have_text("writer")
        for subtask in ("s1", "s2", "s3"):
            card = plan.locator(f'.subtask[data-subtask="{subtask}"]')
            expect(card).to_have_attribute("data-state", "done")
            expect(card.locator(".detail")).to_contain_text("learner · $")
        # Each card went pending → running → done as its events arrived.
        seen = page.evaluate("window.seen")
        assert seen == {s: ["pending", "running", "done"] for s in ("s1", "s2", "s3")}, seen
        expect(page.locator('#events [data-kind="subtask-started"]')).to_have_count(3)
        expect(page.locator('#events [data-kind="plan-made"]')).to_contain_text("2 in parallel")
        page.screenshot(path=str(ARTIFACTS / "dashboard-plan.png"), full_page=True)
        browser.close()
    assert problems == []


def test_the_dashboard_marks_failed_and_skipped_subtasks(serve):
    """The script ends after the plan: s1 and s2 fail (after a retry), s3 is skipped."""
    server = serve(script=[{"text": json.dumps(PLAN)}])
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.goto(server.url + "/")
        run_orchestration(page)
        expect(page.locator('#events [data-kind="task-failed"]').last).to_contain_text(
            "subtask-failed"
        )
        plan = page.locator("#plan")
        for subtask in ("s1", "s2"):
            card = plan.locator(f'.subtask[data-subtask="{subtask}"]')
            expect(card).to_have_attribute("data-state", "failed")
            expect(card.locator(".detail")).to_contain_text("has 1 turn(s)")
        skipped = plan.locator('.subtask[data-subtask="s3"]')
        expect(skipped).to_have_attribute("data-state", "skipped")
        expect(skipped.locator(".detail")).to_have_text(
            re.compile(r"depends on s[12], which failed")
        )
        seen = page.evaluate("window.seen")
        assert seen["s1"][:2] == ["pending", "running"] and seen["s1"][-1] == "failed", seen
        assert seen["s3"] == ["pending", "skipped"], seen
        page.screenshot(path=str(ARTIFACTS / "dashboard-plan-failed.png"), full_page=True)
        browser.close()
