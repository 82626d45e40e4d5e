"""The HTTP API under faults: cancels report what was spent, odd text is refused.

Each test runs a real ``llmos serve`` and does to it what a client in the
field did: cancel a task that has already spent money, cancel one still
queued, give a task a budget it cannot pay, send a goal that is not Unicode
text.
"""

from __future__ import annotations

import socket
import sqlite3
import struct
import time

import pytest
from server_helpers import HELLO_SCRIPT, read_events, wait_for_task

from llmos.events import ToolCallStarted
from llmos.memory import TraceStore
from llmos.memory.session_log import SessionLog

SLEEP_SCRIPT = [
    {"tool_calls": [{"name": "Bash", "input": {"command": "sleep 30"}}]},
    {"text": "Slept."},
]

pytestmark = pytest.mark.slow


def spent_usd(workspace) -> float:
    conn = sqlite3.connect(workspace / "ledger.sqlite")
    try:
        return conn.execute("SELECT COALESCE(SUM(nano_usd), 0) FROM charges").fetchone()[0] / 1e9
    finally:
        conn.close()


def wait_for_bash(client, task_id: str) -> None:
    with client.stream("GET", f"/tasks/{task_id}/events") as response:
        for _, event in read_events(response):
            if isinstance(event, ToolCallStarted):
                return


def test_a_cancelled_task_reports_what_it_spent_and_the_trace_it_left(serve):
    server = serve(script=SLEEP_SCRIPT)
    client = server.client()
    task_id = client.post("/tasks", json={"goal": "Wait a while"}).json()["task_id"]
    wait_for_bash(client, task_id)
    assert client.post(f"/tasks/{task_id}/cancel").status_code == 202
    view = wait_for_task(client, task_id, timeout_s=60)

    assert view["status"] == "cancelled"
    assert view["cost_usd"] > 0
    assert view["cost_usd"] == pytest.approx(spent_usd(server.workspace))
    assert view["trace_id"], view
    kept = TraceStore.for_memory(server.workspace / "memory").load(view["trace_id"])
    assert kept.status == "failed" and kept.cost_usd == pytest.approx(view["cost_usd"])
    listed = {t["task_id"]: t for t in client.get("/tasks").json()}
    assert listed[task_id]["cost_usd"] == pytest.approx(view["cost_usd"])


def test_a_task_cancelled_while_queued_is_logged_with_its_goal(serve):
    server = serve(script=SLEEP_SCRIPT, args=("--concurrency", "1"))
    client = server.client()
    first = client.post("/tasks", json={"goal": "Wait a while"}).json()["task_id"]
    wait_for_bash(client, first)
    waiting = client.post("/tasks", json={"goal": "Wait some more"}).json()["task_id"]
    assert client.post(f"/tasks/{waiting}/cancel").status_code == 202
    assert wait_for_task(client, waiting)["status"] == "cancelled"
    client.post(f"/tasks/{first}/cancel")
    wait_for_task(client, first, timeout_s=60)
    server.stop()

    logged = {t.task_id: t for t in SessionLog(server.workspace / "memory" / "sessions").tasks()}
    assert logged[waiting].goal == "Wait some more"
    assert logged[waiting].status == "cancelled" or logged[waiting].error


def test_a_task_budget_refusal_is_a_budget_error(serve):
    server = serve(script=HELLO_SCRIPT)
    client = server.client()
    task_id = client.post("/tasks", json={"goal": "Create hello.txt", "budget": 0.01}).json()[
        "task_id"
    ]
    view = wait_for_task(client, task_id)
    assert view["status"] == "failed"
    assert view["error_type"] == "BudgetExceeded", view
    assert "task budget: $0.01 left" in view["error"]


@pytest.mark.parametrize(
    "raw_goal", [b'"Create file \\ud800 now"', b'"Create file \\udce9 now"'], ids=["high", "low"]
)
def test_a_goal_that_is_not_unicode_is_refused_and_the_task_list_still_works(serve, raw_goal):
    server = serve(script=HELLO_SCRIPT)
    client = server.client()
    refused = client.post(
        "/tasks",
        content=b'{"goal": ' + raw_goal + b"}",
        headers={"content-type": "application/json"},
    )
    assert refused.status_code == 422, refused.text
    assert "not valid Unicode text" in refused.text
    matched = client.post(
        "/traces/match",
        content=b'{"goal": ' + raw_goal + b"}",
        headers={"content-type": "application/json"},
    )
    assert matched.status_code == 422, matched.text
    assert client.get("/tasks").status_code == 200
    task_id = client.post("/tasks", json={"goal": "Create hello.txt"}).json()["task_id"]
    assert wait_for_task(client, task_id)["success"] is True
    server.stop()
    logged = [t.goal for t in SessionLog(server.workspace / "memory" / "sessions").tasks()]
    assert logged == ["Create hello.txt"]


def test_four_submissions_of_one_new_goal_are_learned_once(serve):
    # A goal the judge can check (the file it names), so the first run is a success to follow.
    script = [
        {"tool_calls": [{"name": "Bash", "input": {"command": "sleep 2 && echo ok > paused.txt"}}]},
        {"text": "Paused, then wrote paused.txt."},
    ]
    server = serve(script=script)
    client = server.client()
    goal = "Pause a moment, then create paused.txt"
    ids = [client.post("/tasks", json={"goal": goal}).json()["task_id"] for _ in range(4)]
    views = [wait_for_task(client, task_id, timeout_s=120) for task_id in ids]
    assert all(view["success"] for view in views), views
    assert sorted(view["mode"] for view in views) == ["follower"] * 3 + ["learner"]
    assert len(TraceStore.for_memory(server.workspace / "memory").entries()) == 1


#: Many small events per turn (one per word), so a late client has a long backlog to catch up.
WORDY_SCRIPT = [
    {
        "text": " ".join(f"w{j}" for j in range(80)),
        "tool_calls": [{"name": "Bash", "input": {"command": f"sleep 0.3; echo step {i}"}}],
    }
    for i in range(20)
] + [{"text": "Done."}]


def test_sixty_clients_hanging_up_mid_stream_log_nothing(tmp_path, serve):
    err_file = tmp_path / "server.err"
    server = serve(script=WORDY_SCRIPT, stderr_file=err_file)
    client = server.client()
    task_id = client.post("/tasks", json={"goal": "Count slowly"}).json()["task_id"]
    while (view := client.get(f"/tasks/{task_id}").json())["events"] < 600:  # a backlog
        if view["status"] not in ("queued", "running"):
            pytest.fail(f"the task ended before it had a backlog: {view}")
        time.sleep(0.05)
    host, port = server.url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
    for _ in range(60):
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(f"GET /tasks/{task_id}/events HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            assert sock.recv(200)  # the stream has begun
            # Hang up hard (RST) while the server is still writing the backlog.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    view = wait_for_task(client, task_id, timeout_s=120)
    assert view["status"] == "done", view
    assert server.process.poll() is None  # still up
    assert client.get("/tasks").status_code == 200
    server.stop()
    err = err_file.read_text()
    assert "socket.send() raised exception" not in err, f"{err.count(chr(10))} lines: {err[:300]}"
    assert "Traceback" not in err, err[-2000:]
