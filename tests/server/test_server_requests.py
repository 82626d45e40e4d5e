"""Bad requests get a 4xx that says why; the read-only endpoints answer as the CLI does."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from server_helpers import ServerProcess, launch, server_env, wait_for_task

from llmos.config import MODES

WORKSPACE_AGENT = """---
name: translator
description: Translates text files between languages.
tools: [Read, Write]
---
You translate files faithfully.
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("requests")
    agents = root / "ws" / "agents"
    agents.mkdir(parents=True)
    (agents / "translator.md").write_text(WORKSPACE_AGENT)
    (agents / "broken.md").write_text("no front matter here\n")
    running = launch(root)
    yield running
    running.stop()


@pytest.fixture
def client(server: ServerProcess):
    return server.client()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "goal: Field required"),
        ({"goal": "   "}, 'goal: the goal is empty; say what to do, e.g. "Create hello.txt"'),
        (
            {"goal": "x", "mode": "fast"},
            f"mode: Input should be {', '.join(map(repr, MODES[:-1]))} or {MODES[-1]!r} "
            "(got 'fast')",
        ),
        ({"goal": "x", "budget": -1}, "budget: Input should be greater than 0 (got -1)"),
        ({"goal": "x", "budget": "lots"}, "budget: Input should be a valid number"),
        ({"goal": "x", "priority": 3}, "priority: Extra inputs are not permitted (got 3)"),
        ({"goal": "x", "project": "../etc"}, "project: project name '../etc' must be 1-64"),
        ({"goal": "x", "project": "nowhere"}, "no project named 'nowhere' (projects: none)"),
    ],
)
def test_a_bad_task_request_is_422_with_the_reason(client, body, detail):
    response = client.post("/tasks", json=body)
    assert response.status_code == 422
    assert detail in response.json()["detail"]


def test_a_body_that_is_not_json_is_422_with_the_reason(client):
    response = client.post(
        "/tasks", content=b"{goal: oops", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "the body is not valid JSON: Expecting property name enclosed in double quotes "
        "(at character 1)"
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/tasks/t-nothing"),
        ("GET", "/tasks/t-nothing/events"),
        ("POST", "/tasks/t-nothing/cancel"),
    ],
)
def test_an_unknown_task_is_404_naming_its_id(client, method, path):
    response = client.request(method, path)
    assert response.status_code == 404
    assert response.json()["detail"].startswith("no task with id 't-nothing' on this server")


def test_an_unknown_trace_is_404_naming_its_id(client):
    response = client.get("/traces/abc123")
    assert response.status_code == 404
    assert response.json()["detail"].startswith("no trace 'abc123' in ")


def test_matching_needs_a_goal_and_says_learn_when_nothing_is_known(client):
    assert client.post("/traces/match", json={}).json()["detail"] == "goal: Field required"
    found = client.post("/traces/match", json={"goal": "Create hello.txt"}).json()
    assert (found["decision"], found["trace_id"], found["steps"]) == ("learn", None, [])


def test_the_budget_is_the_same_object_as_llmos_budget_json(client, server):
    client.post("/tasks", json={"goal": "nothing to do", "budget": 0.0001})  # refused, no spend
    over_http = client.get("/budget").json()
    cli = subprocess.run(
        [sys.executable, "-m", "llmos", "budget", "--json", "--workspace", str(server.workspace)],
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    assert over_http == json.loads(cli.stdout)
    assert over_http["budget_source"] == "unlimited"


def test_agents_lists_workspace_and_shipped_agents_and_the_broken_files(client):
    listing = client.get("/agents").json()
    agents = {agent["name"]: agent for agent in listing["agents"]}
    assert agents["translator"]["source"] == "workspace"
    assert agents["translator"]["tools"] == ["Read", "Write"]
    assert agents["coder"]["source"] == "builtin"
    assert [problem["path"].rsplit("/", 1)[1] for problem in listing["problems"]] == ["broken.md"]


def test_openapi_documents_every_endpoint(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/tasks",
        "/tasks/{task_id}",
        "/tasks/{task_id}/events",
        "/tasks/{task_id}/cancel",
        "/traces",
        "/traces/{trace_id}",
        "/traces/match",
        "/traces/{trace_id}/reject",
        "/budget",
        "/agents",
    } <= set(paths)
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_a_request_for_another_host_name_is_refused_on_loopback(client):
    """A page elsewhere cannot reach a token-less local server through DNS rebinding."""
    response = client.get("/tasks", headers={"Host": "evil.example:8765"})
    assert response.status_code == 403
    assert "Host 'evil.example:8765' is not a loopback name" in response.json()["detail"]


def test_a_task_whose_run_fails_reports_the_error(client):
    """The script is empty: the Learner's first call fails, and the task says so."""
    task_id = client.post("/tasks", json={"goal": "Summarise the logs"}).json()["task_id"]
    view = wait_for_task(client, task_id)
    assert (view["status"], view["success"], view["error_type"]) == (
        "failed",
        False,
        "ScriptExhausted",
    )
    assert "has 0 turn(s)" in view["error"]
    assert (view["outcome"], view["failure_kind"]) == ("failed", "backend-error")


def test_a_trace_is_rejected_through_the_api_with_its_reason(client):
    task_id = client.post("/tasks", json={"goal": "Tidy the logs"}).json()["task_id"]
    trace_id = wait_for_task(client, task_id)["trace_id"]
    assert client.post(f"/traces/{trace_id}/reject", json={"reason": " "}).status_code == 422
    missing = client.post("/traces/nosuchtrace/reject", json={"reason": "wrong"})
    assert missing.status_code == 404
    done = client.post(f"/traces/{trace_id}/reject", json={"reason": "it tidied nothing"})
    assert done.status_code == 200
    assert (done.json()["status"], done.json()["failure_kind"]) == ("failed", "rejected")
    detail = client.get(f"/traces/{trace_id}").json()["meta"]["outcome"]
    assert detail == {"kind": "rejected", "message": "rejected: it tidied nothing"}
