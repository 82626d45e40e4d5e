"""`llmos mcp` answers every malformed line with a JSON-RPC error and keeps serving.

Raw lines go down a real server process's stdin, as a buggy or hostile client
would write them; every request gets an answer (with its id when it had one),
so no client is left waiting, and the session then works as usual.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmos.mcp.wire import MAX_LINE_BYTES
from llmos.testing.cli import STARTER_SWITCH

pytestmark = pytest.mark.slow  # starts a Python process

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw-test", "version": "0"},
    },
}


class RawClient:
    """A server process and its stdout lines, read by a thread into a queue."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.lines: queue.Queue[bytes] = queue.Queue()
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def send(self, raw: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(raw + b"\n")
        self.process.stdin.flush()

    def send_json(self, message: dict[str, Any]) -> None:
        self.send(json.dumps(message).encode())

    def answer(self) -> dict[str, Any]:
        """The next message from the server (a hung server fails the test, not the suite)."""
        return json.loads(self.lines.get(timeout=60))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[RawClient]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMOS_") or k == STARTER_SWITCH}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llmos",
            "mcp",
            "--workspace",
            str(tmp_path / "ws"),
            "--provider",
            "scripted",
            "--script",
            str(tmp_path / "none.json"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    (tmp_path / "none.json").write_text("[]")
    client = RawClient(process)
    try:
        yield client
    finally:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        client.pump.join(timeout=30)
        process.stdout.close()


def assert_error(answer: dict[str, Any], request_id: object, code: int, *words: str) -> None:
    assert answer["jsonrpc"] == "2.0" and answer["id"] == request_id, answer
    assert answer["error"]["code"] == code, answer
    for word in words:
        assert word in answer["error"]["message"], answer


def test_malformed_lines_get_json_rpc_errors_and_the_session_goes_on(client: RawClient) -> None:
    client.send(b"{not json")
    assert_error(client.answer(), None, -32700, "not JSON")
    client.send_json([{"jsonrpc": "2.0", "id": 2, "method": "ping"}])  # type: ignore[arg-type]
    assert_error(client.answer(), None, -32600, "batches")
    client.send(b'"just a string"')
    assert_error(client.answer(), None, -32600, "one JSON object")
    client.send_json({"jsonrpc": "1.0", "id": 3, "method": "ping"})
    assert_error(client.answer(), 3, -32600, '"jsonrpc" must be "2.0"')
    client.send_json({"jsonrpc": "2.0", "id": 4})
    assert_error(client.answer(), 4, -32600, "invalid request")
    client.send(b"x" * (MAX_LINE_BYTES + 10))
    assert_error(client.answer(), None, -32600, "at most")
    client.send(b'{"jsonrpc": "2.0", "id": 5, "method": "ping", "params": {"\xff": 1}}')
    assert_error(client.answer(), None, -32700, "not UTF-8")

    client.send_json(INIT)
    assert client.answer()["result"]["serverInfo"]["name"] == "llmos"
    client.send_json({"jsonrpc": "2.0", "method": "notifications/initialized"})
    client.send_json({"jsonrpc": "2.0", "id": 6, "method": "ping"})
    assert client.answer() == {"jsonrpc": "2.0", "id": 6, "result": {}}


def test_unknown_tool_arguments_and_lone_surrogates_are_refused(client: RawClient) -> None:
    client.send_json(INIT)
    client.answer()
    client.send_json({"jsonrpc": "2.0", "method": "notifications/initialized"})
    client.send_json(
        {
            "jsonrpc": "2.0",
            "id": 10,
            "method": "tools/call",
            "params": {"name": "run_task", "arguments": {"goal": "Create a.txt", "mood": "fast"}},
        }
    )
    assert_error(client.answer(), 10, -32602, "run_task takes no argument 'mood'", "goal, mode")
    for request_id, tool in ((11, "run_task"), (12, "match_trace")):
        client.send(
            b'{"jsonrpc": "2.0", "id": %d, "method": "tools/call", "params": {"name": "%s", '
            b'"arguments": {"goal": "Create file \\ud800 now"}}}' % (request_id, tool.encode())
        )
        assert_error(client.answer(), request_id, -32602, "not valid Unicode", "\\ud800")
    client.send_json(
        {
            "jsonrpc": "2.0",
            "id": 13,
            "method": "tools/call",
            "params": {"name": "match_trace", "arguments": {"goal": "Create a.txt"}},
        }
    )
    answer = client.answer()
    assert answer["id"] == 13 and answer["result"]["isError"] is False, answer
