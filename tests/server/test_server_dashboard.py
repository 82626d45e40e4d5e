"""The dashboard in a real headless Chromium, against a real ``llmos serve``."""

from __future__ import annotations

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
