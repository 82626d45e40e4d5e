"""Helpers for the server tests: start a real ``llmos serve``, read its event streams."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmos.events import Event, event_from_json
from llmos.testing.cli import STARTER_SWITCH

SERVE = [sys.executable, "-m", "llmos", "serve"]
#: The scripted model is priced so that learning costs money and replays save it.
PRICED_WORKSPACE = '[prices."scripted"]\ninput = 3.0\noutput = 15.0\n'
HELLO_SCRIPT = [
    {
        "text": "I will create the file.",
        "tool_calls": [
            {"name": "Write", "input": {"file_path": "hello.txt", "content": "hello\n"}}
        ],
    },
    {"tool_calls": [{"name": "Bash", "input": {"command": "cat hello.txt && echo checked"}}]},
    {"text": "Created hello.txt."},
]
READY_TIMEOUT_S = 60
SECRET_PREFIXES = ("LLMOS_", "ANTHROPIC_", "OPENAI_")


@dataclass
class ServerProcess:
    """A running server: its URL, workspace and process."""

    url: str
    workspace: Path
    process: subprocess.Popen[str]
    clients: list[httpx.Client] = field(default_factory=list)
    stderr: str | None = None

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)
        self.clients.append(client)
        return client

    def stop(self) -> str:
        """Stop it as Ctrl-C would (SIGTERM); returns what it wrote on stderr."""
        if self.stderr is not None:
            return self.stderr
        for client in self.clients:
            client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.stderr = self.process.stderr.read() if self.process.stderr else ""
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe:
                pipe.close()
        return self.stderr


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(SECRET_PREFIXES) or k == STARTER_SWITCH
    }
    env.update(extra or {})
    return env


def launch(
    root: Path,
    *,
    script: list[dict[str, Any]] | None = None,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    stderr_file: Path | None = None,
) -> ServerProcess:
    """Start ``llmos serve --port 0`` on a scripted provider and wait for its ready line.

    ``stderr_file`` takes the server's stderr instead of a pipe, for a test that
    expects a lot of it (a full pipe would block the server) or reads it live.
    """
    workspace = root / "ws"
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "llmos.toml").write_text(PRICED_WORKSPACE)
    script_file = root / "script.json"
    script_file.write_text(json.dumps(script or []))
    command = [
        *SERVE,
        "--port",
        "0",
        "--workspace",
        str(workspace),
        "--provider",
        "scripted",
        "--script",
        str(script_file),
        *args,
    ]
    err_sink = subprocess.PIPE if stderr_file is None else stderr_file.open("w")
    process = subprocess.Popen(
        command,
        cwd=root,
        env=server_env(env),
        stdout=subprocess.PIPE,
        stderr=err_sink,
        text=True,
    )
    if stderr_file is not None:
        err_sink.close()  # the child holds its own copy
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], READY_TIMEOUT_S)
    line = process.stdout.readline() if ready else ""
    if "llmos serving on " not in line:
        process.kill()
        process.wait()
        err = process.stderr.read() if process.stderr else ""
        pytest.fail(f"the server did not start: stdout {line!r}, stderr:\n{err}")
    url = line.split("llmos serving on ", 1)[1].split()[0]
    return ServerProcess(url=url, workspace=workspace, process=process)


def read_events(response: httpx.Response) -> Iterator[tuple[int, Event]]:
    """Parse a server-sent event stream into (id, event) pairs, as they arrive."""
    event_id: int | None = None
    for line in response.iter_lines():
        if line.startswith("id: "):
            event_id = int(line[4:])
        elif line.startswith("data: "):
            assert event_id is not None, "every event carries an id"
            yield event_id, event_from_json(line[6:])


def wait_for_task(client: httpx.Client, task_id: str, timeout_s: float = 120) -> dict[str, Any]:
    """Poll GET /tasks/{id} until the task has ended; returns its last view."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        view = client.get(f"/tasks/{task_id}").json()
        if view["status"] not in ("queued", "running"):
            return view
        time.sleep(0.05)
    pytest.fail(f"task {task_id} did not end within {timeout_s} s: {view}")
