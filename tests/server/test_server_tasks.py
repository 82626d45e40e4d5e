"""Tasks over HTTP against a real ``llmos serve``: submit, poll, stream, replay, cancel."""

from __future__ import annotations

import signal

import httpx
import pytest
from server_helpers import HELLO_SCRIPT, read_events, wait_for_task

from llmos.events import (
    HookDecided,
    ModeChosen,
    TaskFailed,
    TaskFinished,
    TaskQueued,
    TaskStarted,
    ToolCallFinished,
    ToolCallStarted,
    UsageUpdated,
)
from llmos.memory import TraceStore

SLEEP_SCRIPT = [
    {"tool_calls": [{"name": "Bash", "input": {"command": "sleep 300"}}]},
    {"text": "Slept."},
]

pytestmark = pytest.mark.slow


def test_a_task_is_learned_then_followed_and_its_events_stream_as_json(serve):
    server = serve(script=HELLO_SCRIPT)
    client = server.client()

    submitted = client.post("/tasks", json={"goal": "Create hello.txt"})
    assert submitted.status_code == 202, submitted.text
    task_id = submitted.json()["task_id"]
    view = wait_for_task(client, task_id)
    assert view["status"] == "done", view
    assert view["mode"] == "learner" and view["success"] is True
    assert view["text"] == "Created hello.txt."
    assert view["cost_usd"] > 0 and view["trace_id"]
    assert (server.workspace.parent / "hello.txt").read_text() == "hello\n"

    with client.stream("GET", f"/tasks/{task_id}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        pairs = list(read_events(response))
    ids = [event_id for event_id, _ in pairs]
    events = [event for _, event in pairs]
    assert ids == list(range(view["events"]))
    assert isinstance(events[0], TaskStarted) and events[0].goal == "Create hello.txt"
    assert isinstance(events[-1], TaskFinished) and events[-1].trace_id == view["trace_id"]
    assert all(event.task_id == task_id for event in events)
    started = [e for e in events if isinstance(e, ToolCallStarted)]
    assert [(e.tool, e.replay) for e in started] == [("Write", False), ("Bash", False)]
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert finished[1].exit_code == 0 and "checked" in finished[1].output
    last_usage = [e for e in events if isinstance(e, UsageUpdated)][-1]
    assert last_usage.total_cost_usd == pytest.approx(view["cost_usd"])

    # The same goal again is replayed from the trace: no model call, the learned cost saved.
    again = client.post("/tasks", json={"goal": "create hello.txt"}).json()["task_id"]
    replay = wait_for_task(client, again)
    assert (replay["mode"], replay["status"], replay["cost_usd"]) == ("follower", "done", 0.0)
    assert replay["saved_usd"] == pytest.approx(view["cost_usd"])
    with client.stream("GET", f"/tasks/{again}/events") as response:
        replayed = [event for _, event in read_events(response)]
    chosen = next(e for e in replayed if isinstance(e, ModeChosen))
    assert (chosen.mode, chosen.trace_id, chosen.confidence) == ("follower", view["trace_id"], 1.0)
    assert [e.replay for e in replayed if isinstance(e, ToolCallStarted)] == [True, True]

    listed = client.get("/tasks").json()
    assert [t["task_id"] for t in listed] == [again, task_id]  # newest first

    # The library, matching and the economy see both runs.
    traces = client.get("/traces").json()
    assert len(traces) == 1
    trace = traces[0]
    assert trace["id"] == view["trace_id"]
    assert (trace["uses"], trace["replay_successes"], trace["replay_failures"]) == (1, 1, 0)
    assert trace["saved_usd"] == pytest.approx(view["cost_usd"])
    assert [t["id"] for t in client.get("/traces", params={"q": "hello"}).json()] == [trace["id"]]
    assert client.get("/traces", params={"q": "zebra crossing"}).json() == []

    detail = client.get(f"/traces/{trace['id'][:6]}").json()
    assert detail["id"] == trace["id"]
    assert detail["meta"]["goal"] == "Create hello.txt"
    assert detail["meta"]["replay_successes"] == 1
    assert detail["markdown"].startswith("---\n")
    assert "<h1>Create hello.txt</h1>" in detail["html"]

    match = client.post("/traces/match", json={"goal": "Create hello.txt"}).json()
    assert (match["decision"], match["trace_id"], match["confidence"]) == (
        "follow",
        trace["id"],
        1.0,
    )
    assert [step["tool"] for step in match["steps"]] == ["Write", "Bash"]

    report = client.get("/budget").json()
    assert report["spent_usd"] == pytest.approx(view["cost_usd"])
    assert report["saved_usd"] == pytest.approx(view["cost_usd"])
    assert (report["calls"], report["replays"]) == (3, 1)


def test_a_long_task_streams_live_and_is_cancelled(serve):
    server = serve(script=SLEEP_SCRIPT)
    client = server.client()
    task_id = client.post("/tasks", json={"goal": "Wait a while"}).json()["task_id"]

    seen = []
    with client.stream("GET", f"/tasks/{task_id}/events") as response:
        for event_id, event in read_events(response):
            seen.append((event_id, event))
            if isinstance(event, ToolCallStarted):
                # The Bash call is running now: the stream is live, not a replay of the end.
                assert event.input == {"command": "sleep 300"}
                assert client.get(f"/tasks/{task_id}").json()["status"] == "running"
                cancelled = client.post(f"/tasks/{task_id}/cancel")
                assert cancelled.status_code == 202, cancelled.text
                assert cancelled.json()["cancelled"] is True
    last = seen[-1][1]
    assert isinstance(last, TaskFailed) and last.error_type == "Cancelled"

    view = wait_for_task(client, task_id, timeout_s=120)  # well before `sleep 300` would end
    assert view["status"] == "cancelled" and view["success"] is False
    again = client.post(f"/tasks/{task_id}/cancel")
    assert again.status_code == 409
    assert "has already ended (cancelled)" in again.json()["detail"]

    # Reconnecting with Last-Event-ID sends only what came after that event.
    resume_from = seen[-3][0]
    with client.stream(
        "GET", f"/tasks/{task_id}/events", headers={"Last-Event-ID": str(resume_from)}
    ) as response:
        resumed = list(read_events(response))
    assert [event_id for event_id, _ in resumed] == [seen[-2][0], seen[-1][0]]


def test_a_task_budget_stops_the_run_before_the_call_that_would_overspend(serve):
    server = serve(script=HELLO_SCRIPT)
    client = server.client()
    task_id = client.post("/tasks", json={"goal": "Create hello.txt", "budget": 0.01}).json()[
        "task_id"
    ]
    view = wait_for_task(client, task_id)
    assert view["status"] == "failed" and view["cost_usd"] == 0.0
    assert view["error"].startswith(
        "stopped before the next model call: task budget: $0.01 left of the $0.01 this task "
        "was given, the next call needs about $0.0"
    )
    assert not (server.workspace.parent / "hello.txt").exists()
    assert client.get("/budget").json()["calls"] == 0


def test_a_task_budget_lowers_max_tokens_instead_of_refusing_a_call_it_can_partly_pay(serve):
    """Issue 15: the HTTP per-task budget is the same check as the workspace budget. With
    $0.05, a first call's prompt plus 4,096 tokens out ($0.06 of them) does not fit, but
    a shorter answer does: the call goes ahead with a lower ``max_tokens``."""
    server = serve(script=HELLO_SCRIPT)
    client = server.client()
    task_id = client.post("/tasks", json={"goal": "Create hello.txt", "budget": 0.05}).json()[
        "task_id"
    ]
    view = wait_for_task(client, task_id)
    assert view["status"] == "done", view
    assert 0 < view["cost_usd"] <= 0.05
    with client.stream("GET", f"/tasks/{task_id}/events") as response:
        events = [event for _, event in read_events(response)]
    caps = [e for e in events if isinstance(e, HookDecided) and e.decision == "rewrite"]
    assert caps and caps[0].hook == "task-budget", events
    assert caps[0].reason.startswith("budget: max_tokens lowered from 4,096 to ")
    assert (server.workspace.parent / "hello.txt").read_text() == "hello\n"


def test_tasks_of_a_project_work_in_its_output_folder(serve):
    server = serve(script=HELLO_SCRIPT)
    (server.workspace / "projects" / "site").mkdir(parents=True)
    client = server.client()
    task_id = client.post(
        "/tasks", json={"goal": "Create hello.txt", "project": "site", "mode": "learner"}
    ).json()["task_id"]
    view = wait_for_task(client, task_id)
    assert (view["status"], view["project"], view["requested_mode"]) == ("done", "site", "learner")
    output = server.workspace.parent / "hello.txt"
    assert output.read_text() == "hello\n"


def test_stopping_the_server_cancels_a_running_task_cleanly(serve):
    note = {"name": "Write", "input": {"file_path": "note.txt", "content": "waiting\n"}}
    server = serve(script=[{"tool_calls": [note]}, *SLEEP_SCRIPT])
    client = server.client()
    task_id = client.post("/tasks", json={"goal": "Wait a while"}).json()["task_id"]
    with client.stream("GET", f"/tasks/{task_id}/events") as response:
        for _, event in read_events(response):
            if isinstance(event, ToolCallStarted) and event.tool == "Bash":
                break
    stderr = server.stop()
    # uvicorn shuts down cleanly, then re-raises the signal so the exit status tells of it.
    assert server.process.returncode == -signal.SIGTERM, stderr
    assert "Traceback" not in stderr
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/tasks", timeout=2)
    # The run was cancelled through the dispatcher: what it did is kept as a failed trace.
    kept = TraceStore.for_memory(server.workspace / "memory").entries()
    assert [(entry.goal, entry.status) for entry in kept] == [("Wait a while", "failed")]


def test_tasks_beyond_the_concurrency_limit_wait_in_the_scheduler_queue(serve):
    server = serve(script=SLEEP_SCRIPT, args=("--concurrency", "1"))
    client = server.client()
    first = client.post("/tasks", json={"goal": "Wait a while"}).json()["task_id"]
    with client.stream("GET", f"/tasks/{first}/events") as response:
        for _, event in read_events(response):
            if isinstance(event, ToolCallStarted):
                break
    second = client.post("/tasks", json={"goal": "Wait some more"})
    assert second.json()["status"] == "queued"
    waiting = second.json()["task_id"]
    status = client.get("/status").json()
    assert (status["running"], status["queued"], status["concurrency"]) == (1, 1, 1)

    assert client.post(f"/tasks/{waiting}/cancel").status_code == 202
    with client.stream("GET", f"/tasks/{waiting}/events") as response:
        events = [event for _, event in read_events(response)]
    assert isinstance(events[0], TaskQueued)
    assert (events[0].position, events[0].running, events[0].concurrency) == (1, 1, 1)
    assert "queued: 1 task(s) running" in events[0].message
    assert isinstance(events[-1], TaskFailed)
    assert events[-1].error == "cancelled through the HTTP API before it started"
    assert client.get(f"/tasks/{waiting}").json()["status"] == "cancelled"

    assert client.post(f"/tasks/{first}/cancel").status_code == 202
    assert wait_for_task(client, first, timeout_s=120)["status"] == "cancelled"
