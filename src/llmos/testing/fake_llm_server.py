"""A scripted LLM server on 127.0.0.1 speaking the Anthropic and OpenAI wire formats.

Backends are tested through their real SDKs over real HTTP: the test scripts a
queue of :class:`Turn`s and :class:`Fault`s, each answering one request in the
format of the endpoint that was called (``POST /v1/messages`` or
``POST /v1/chat/completions``, streaming or not). Every request is recorded so a
test can assert exactly what the backend sent. ``POST /v1/messages/count_tokens``
answers ``{"input_tokens": N}`` by :func:`count_prompt_tokens`, or with the faults
given to :meth:`FakeLLMServer.fail_counts` (a script's ``"count_faults"`` list).

Streams use chunked transfer encoding over HTTP/1.1, so a stream cut in the
middle looks to the client exactly as it does from a real server: the peer
closes the connection before the terminating chunk.

Example:
    with FakeLLMServer() as server:
        server.enqueue(Fault.rate_limited(retry_after=0), Turn(text="hi"))
        backend = AnthropicBackend("claude-x", api_key="k", base_url=server.url)
        ...
        assert server.requests[-1].body["stream"] is True

Script mode, for subprocesses (the Claude Code CLI, the llmos CLI)::

    python -m llmos.testing.fake_llm_server --script turns.json [--port N]

prints ``http://127.0.0.1:PORT`` on stdout and serves until killed. The
script is a JSON list of turns (``{"text": ..., "tool_calls": [{"name", "input"}],
"usage": {...}, "stop_reason": ...}``) and faults (``{"fault": "status",
"status": 429, "headers": {...}}``, ``{"fault": "cut", "after": 3, "turn": {...}}``,
``{"fault": "stream_error", "after": 2, "turn": {...}}``, ``{"fault": "stall"}``);
see :func:`item_from_json`. An object ``{"items": [...], "fallback": {turn}}``
also gives the turn that answers once the items are used up.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import sys
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from llmos.testing.fake_llm_script import (
    DEFAULT_STALL_SECONDS,
    Api,
    FakeUsage,
    Fault,
    Ids,
    RecordedRequest,
    ScriptItem,
    ToolUse,
    Turn,
    anthropic_events,
    anthropic_message,
    count_prompt_tokens,
    error_body,
    item_from_json,
    iter_sse_data,
    load_script,
    openai_chunks,
    openai_completion,
    stream_error_event,
    turn_from_json,
)

__all__ = [
    "DEFAULT_STALL_SECONDS",
    "FakeLLMServer",
    "FakeUsage",
    "Fault",
    "RecordedRequest",
    "ScriptItem",
    "ToolUse",
    "Turn",
    "item_from_json",
    "iter_sse_data",
    "load_script",
    "main",
]

# --------------------------------------------------------------------------- the server


def _api_of(path: str) -> Api | None:
    if path.startswith("/v1/messages"):
        return "anthropic"
    if path.startswith("/v1/chat/completions"):
        return "openai"
    return None


class _Handler(BaseHTTPRequestHandler):
    """Answers one request from the owning :class:`FakeLLMServer`'s script."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small SSE writes must not wait for delayed ACKs
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests read ``server.requests`` instead of a log."""

    def do_GET(self) -> None:
        record = self._record(body=None)
        if record.path.split("?", 1)[0].rstrip("/") == "/v1/models":
            self._send_json(200, self._model_list(anthropic="anthropic-version" in record.headers))
        else:
            self._send_json(404, {"error": {"message": f"no route for GET {record.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw.decode(errors="replace")
        record = self._record(body=body)
        path = record.path.split("?", 1)[0]
        model = body.get("model", "fake-model") if isinstance(body, dict) else "fake-model"
        if path == "/v1/messages/count_tokens":
            self._count(body, model)
            return
        if record.api is None:
            self._send_json(404, {"error": {"message": f"no route for POST {path}"}})
            return
        streaming = isinstance(body, dict) and bool(body.get("stream"))
        self._answer(self.server.owner.take(), record.api, model, body, streaming=streaming)

    def _answer(
        self, item: ScriptItem | None, api: Api, model: str, body: Any, *, streaming: bool
    ) -> None:
        """Play one script item in the format of ``api``."""
        if item is None:
            self._send_exhausted(api, model)
        elif isinstance(item, Turn):
            self._send_turn(api, item, model, body, streaming=streaming)
        elif item.kind == "status" or (item.kind == "stream_error" and not streaming):
            self._send_json(item.status, error_body(api, item, model), item.headers)
        elif item.kind == "stream_error" and item.turn is not None:
            self._start_stream()
            for event in self._render(api, item.turn, model, body)[: item.after]:
                self._write_chunk(event)
            self._write_chunk(stream_error_event(api, item, model))
            self._end_stream()
        elif item.kind == "cut" and item.turn is not None:
            self._send_turn(api, item.turn, model, body, streaming=streaming, cut_after=item.after)
        else:
            self._stall(api, item, model, body, streaming=streaming)

    def _model_list(self, *, anthropic: bool) -> dict[str, Any]:
        """``GET /v1/models`` in the caller's wire format (Anthropic's clients send
        ``anthropic-version``)."""
        names = self.server.owner.models
        if not anthropic:
            models = [
                {"id": name, "object": "model", "created": 0, "owned_by": "fake"} for name in names
            ]
            return {"object": "list", "data": models}
        data = [
            {
                "type": "model",
                "id": name,
                "display_name": name,
                "created_at": "2025-01-01T00:00:00Z",
            }
            for name in names
        ]
        first, last = (names[0], names[-1]) if names else (None, None)
        return {"data": data, "has_more": False, "first_id": first, "last_id": last}

    def _count(self, body: Any, model: str) -> None:
        """``POST /v1/messages/count_tokens``: the count, or the next scripted count fault."""
        owner = self.server.owner
        fault = owner.take_count_fault()
        if fault is None:
            self._send_json(200, {"input_tokens": count_prompt_tokens(body)})
        elif fault.kind == "stall":
            owner.wait_for_release(fault.stall_seconds)
            self.close_connection = True
        else:
            self._send_json(fault.status, error_body("anthropic", fault, model), fault.headers)

    # -- helpers

    def _record(self, *, body: Any) -> RecordedRequest:
        record = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            api=_api_of(self.path),
        )
        self.server.owner.record(record)
        return record

    def _send_json(
        self, status: int, payload: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", self.server.owner.ids.next("req"))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_exhausted(self, api: Api, model: str) -> None:
        taken = self.server.owner.taken
        fault = Fault.http(
            500,
            message=(
                f"fake LLM server: the script is exhausted after {taken} response(s); "
                "enqueue more turns for this test"
            ),
            openai_code="script_exhausted",
        )
        # x-should-retry stops both SDKs from retrying an answer that cannot change.
        self._send_json(500, error_body(api, fault, model), {"x-should-retry": "false"})

    def _render(self, api: Api, turn: Turn, model: str, body: Any) -> list[bytes]:
        ids = self.server.owner.ids
        if api == "anthropic":
            return anthropic_events(turn, model, ids)
        options = (body.get("stream_options") or {}) if isinstance(body, dict) else {}
        return openai_chunks(turn, model, ids, include_usage=bool(options.get("include_usage")))

    def _send_turn(
        self,
        api: Api,
        turn: Turn,
        model: str,
        body: Any,
        *,
        streaming: bool,
        cut_after: int | None = None,
    ) -> None:
        if not streaming:
            if api == "anthropic":
                payload = anthropic_message(turn, model, self.server.owner.ids)
            else:
                payload = openai_completion(turn, model, self.server.owner.ids)
            if cut_after is None:
                self._send_json(200, payload)
            else:
                self._send_truncated_json(payload)
            return
        events = self._render(api, turn, model, body)
        self._start_stream()
        for event in events[:cut_after] if cut_after is not None else events:
            self._write_chunk(event)
        if cut_after is None:
            self._end_stream()
        else:
            self._hang_up()

    def _send_truncated_json(self, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self._hang_up()

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("request-id", self.server.owner.ids.next("req"))
        self.end_headers()
        self.wfile.flush()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _hang_up(self) -> None:
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _stall(self, api: Api, fault: Fault, model: str, body: Any, *, streaming: bool) -> None:
        owner = self.server.owner
        events: list[bytes] = []
        if fault.turn is not None and streaming:
            events = self._render(api, fault.turn, model, body)
            self._start_stream()
            for event in events[: fault.after]:
                self._write_chunk(event)
        released = owner.wait_for_release(fault.stall_seconds)
        if not released or owner.closing or fault.turn is None:
            self.close_connection = True
            return
        if streaming:
            for event in events[fault.after :]:
                self._write_chunk(event)
            self._end_stream()
        else:
            self._send_turn(api, fault.turn, model, body, streaming=False)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: FakeLLMServer

    def process_request(self, request: Any, client_address: Any) -> None:
        self.owner.track(request)
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (timeouts, cut-stream tests) are expected, not errors."""
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            super().handle_error(request, client_address)


class FakeLLMServer:
    """A scripted Anthropic + OpenAI compatible HTTP server on 127.0.0.1.

    Thread-safe: the script can be extended while requests are in flight.
    ``fallback`` answers requests once the queue is empty (instead of the
    "script exhausted" 500), for clients that send extra requests of their own.

    Example:
        with FakeLLMServer() as server:
            server.enqueue(Turn(text="hello"))
            client = AsyncAnthropic(api_key="test", base_url=server.url)
    """

    def __init__(
        self,
        items: Sequence[ScriptItem] = (),
        *,
        port: int = 0,
        fallback: Turn | None = None,
        models: Sequence[str] = ("fake-model",),
    ) -> None:
        self._queue: deque[ScriptItem] = deque(items)
        self._count_faults: deque[Fault] = deque()
        self._requests: list[RecordedRequest] = []
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._port = port
        self._thread: threading.Thread | None = None
        self._httpd: _HTTPServer | None = None
        self.fallback = fallback
        self.models = tuple(models)
        self.ids = Ids()
        self.taken = 0
        self.closing = False

    # -- lifecycle

    def start(self) -> FakeLLMServer:
        httpd = _HTTPServer(("127.0.0.1", self._port), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-llm-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, release stalls and drop every open connection."""
        if self._httpd is None:
            return
        self.closing = True
        self._release.set()
        self._httpd.shutdown()
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(OSError):  # the client may already have gone
                conn.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- script and records

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the fake LLM server is not running; call start() first")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The base URL to give an SDK (``http://127.0.0.1:PORT``; the SDKs add ``/v1``).

        The OpenAI SDK expects the ``/v1`` in its base URL: use :attr:`openai_url`.
        """
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    def enqueue(self, *items: ScriptItem) -> None:
        with self._lock:
            self._queue.extend(items)

    def take(self) -> ScriptItem | None:
        with self._lock:
            if self._queue:
                self.taken += 1
                return self._queue.popleft()
            return self.fallback

    def fail_counts(self, *faults: Fault) -> None:
        """Answer the next ``count_tokens`` requests with these faults (HTTP errors, stalls)."""
        with self._lock:
            self._count_faults.extend(faults)

    def take_count_fault(self) -> Fault | None:
        with self._lock:
            return self._count_faults.popleft() if self._count_faults else None

    def count_requests(self) -> list[RecordedRequest]:
        """Only the requests to ``/v1/messages/count_tokens``."""
        return [r for r in self.requests if "count_tokens" in r.path]

    @property
    def pending(self) -> int:
        """Scripted responses not yet served."""
        with self._lock:
            return len(self._queue)

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def model_requests(self) -> list[RecordedRequest]:
        """Only the requests to ``/v1/messages`` and ``/v1/chat/completions``."""
        return [r for r in self.requests if r.api is not None and "count_tokens" not in r.path]

    def track(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.append(conn)

    # -- stalls

    def release(self) -> None:
        """Let every stalled response (current and future) go on."""
        self._release.set()

    def wait_for_release(self, seconds: float) -> bool:
        return self._release.wait(seconds)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a JSON script until killed; print the URL first so a parent can read it."""
    parser = argparse.ArgumentParser(prog="python -m llmos.testing.fake_llm_server")
    parser.add_argument("--script", required=True, help="JSON file with the turns and faults")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    args = parser.parse_args(argv)
    with open(args.script, encoding="utf-8") as handle:
        text = handle.read()
    data = json.loads(text)
    fallback = None
    if isinstance(data, dict) and data.get("fallback"):
        fallback = turn_from_json(data["fallback"])
    server = FakeLLMServer(load_script(text), port=args.port, fallback=fallback)
    if isinstance(data, dict):
        faults = [item_from_json(entry) for entry in data.get("count_faults") or ()]
        server.fail_counts(*(f for f in faults if isinstance(f, Fault)))
    with server:
        print(server.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
