"""The token: required off loopback, checked on every request when set."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import httpx
import pytest
from server_helpers import SERVE, ServerProcess, launch, read_events, server_env

from llmos.events import TaskFailed, TaskStarted

TOKEN = "s3cret-token-for-tests"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A loopback server that demands the token anyway (--require-token)."""
    server = launch(
        tmp_path_factory.mktemp("auth"),
        args=("--require-token",),
        env={"LLMOS_API_TOKEN": TOKEN},
    )
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing token: send the header `Authorization: Bearer <token>`"),
        ({"Authorization": "Bearer nope"}, "wrong token: it does not match LLMOS_API_TOKEN"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "must be `Bearer <token>`, got a 'Basic'"),
    ],
)
@pytest.mark.parametrize("path", ["/tasks", "/budget", "/", "/static/app.js", "/openapi.json"])
def test_requests_without_the_right_token_are_401_with_the_reason(guarded, path, headers, reason):
    response = httpx.get(guarded.url + path, headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="llmos"'
    assert reason in response.json()["detail"]


def test_the_token_opens_every_endpoint_and_the_event_stream(guarded):
    client = guarded.client(token=TOKEN)
    assert client.get("/tasks").json() == []
    task_id = client.post("/tasks", json={"goal": "Say hello"}).json()["task_id"]
    # EventSource cannot set headers: the stream takes the token as ?token=.
    with httpx.stream(
        "GET", f"{guarded.url}/tasks/{task_id}/events", params={"token": TOKEN}, timeout=30
    ) as response:
        assert response.status_code == 200
        events = [event for _, event in read_events(response)]
    assert isinstance(events[0], TaskStarted)
    assert isinstance(events[-1], TaskFailed)  # the script is empty: the run fails, and says so


def test_the_dashboard_opened_with_the_token_keeps_it_in_a_cookie(guarded):
    with httpx.Client(base_url=guarded.url, timeout=10) as browser_like:
        page = browser_like.get("/", params={"token": TOKEN})
        assert page.status_code == 200 and "<title>llmos dashboard</title>" in page.text
        cookie = page.headers["set-cookie"]
        assert "llmos_token=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert browser_like.get("/static/app.js").status_code == 200
        assert browser_like.get("/budget").status_code == 200


def _serve_exits(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SERVE, *args, "--port", "0"],
        env=server_env(env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_binding_beyond_loopback_without_a_token_is_refused():
    done = _serve_exits("--host", "0.0.0.0")
    assert done.returncode == 2
    assert "refusing to serve on 0.0.0.0: anyone who can reach it could run tasks" in done.stderr
    assert "LLMOS_API_TOKEN" in done.stderr


def test_require_token_without_a_token_is_refused():
    done = _serve_exits("--require-token")
    assert done.returncode == 2
    assert "--require-token was given but LLMOS_API_TOKEN is not set" in done.stderr


def test_a_port_in_use_is_a_clear_error(guarded):
    port = guarded.url.rsplit(":", 1)[1]
    done = subprocess.run(
        [*SERVE, "--port", port],
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
