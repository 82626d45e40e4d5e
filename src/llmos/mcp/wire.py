"""The MCP server's stdio wire: every line is checked before the SDK reads it.

The SDK's stdio transport drops a line it cannot parse (it only logs it), so a
client that sent one waits for an answer that never comes. Here every line
that is not one valid JSON-RPC 2.0 message is answered with a JSON-RPC error,
carrying the request's id when it has one:

- ``-32700`` parse error: not JSON, or not UTF-8;
- ``-32600`` invalid request: an array (MCP has no batches), an object that is
  not a message (a wrong ``jsonrpc``, no ``method``), a line over
  :data:`MAX_LINE_BYTES`;
- ``-32602`` invalid params: text that is not valid Unicode (a lone surrogate
  such as ``\\ud800``: no store, log or answer could hold it), or an argument
  the called tool does not take (a misspelt ``mode`` would otherwise be
  ignored and the task run with the default).

A notification (no id) is never answered, as JSON-RPC says; a bad one is dropped.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from mcp.shared.message import SessionMessage
from mcp.types import ErrorData, JSONRPCError, jsonrpc_message_adapter
from pydantic import ValidationError

from llmos.text import unicode_problem

#: The longest line read as a message (the rest of a longer one is skipped unread).
MAX_LINE_BYTES = 8 * 1024 * 1024
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
_READ_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class WireError:
    """Why a line is not a message the server can act on, and whom to tell."""

    request_id: str | int | None
    code: int
    message: str
    #: A notification is not answered, even when it is wrong.
    answer: bool = True


def _request_id(data: Mapping[str, Any]) -> str | int | None:
    value = data.get("id")
    return value if isinstance(value, str | int) and not isinstance(value, bool) else None


def _not_unicode(value: Any) -> str | None:
    """Why the first string in ``value`` (keys too) is not Unicode text, if one is not."""
    if isinstance(value, str):
        return unicode_problem(value, f"the text {value[:40]!r}")
    items = (
        value.items() if isinstance(value, Mapping) else value if isinstance(value, list) else ()
    )
    for item in items:
        for part in item if isinstance(value, Mapping) else (item,):
            found = _not_unicode(part)
            if found:
                return found
    return None


def check_line(raw: bytes, tools: Mapping[str, frozenset[str]]) -> WireError | None:
    """What is wrong with one line of the wire, or None when the SDK may have it.

    ``tools`` maps each tool's name to the arguments it takes.
    """
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return WireError(None, PARSE_ERROR, f"parse error: the message is not UTF-8 ({exc})")
    except json.JSONDecodeError as exc:
        return WireError(None, PARSE_ERROR, f"parse error: not JSON ({exc})")
    if not isinstance(data, dict):
        return WireError(
            None,
            INVALID_REQUEST,
            f"invalid request: a message is one JSON object, got a JSON {type(data).__name__}"
            + (" (MCP has no batches)" if isinstance(data, list) else ""),
        )
    request_id = _request_id(data)
    is_notification = request_id is None and "method" in data
    if data.get("jsonrpc") != "2.0":
        return WireError(
            request_id,
            INVALID_REQUEST,
            f'invalid request: "jsonrpc" must be "2.0", got {data.get("jsonrpc")!r}',
            answer=not is_notification,
        )
    try:
        jsonrpc_message_adapter.validate_python(data, by_name=False)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"][1:]) or "message"
        return WireError(
            request_id,
            INVALID_REQUEST,
            f"invalid request: {where}: {first['msg']}",
            answer=not is_notification,
        )
    bad_text = _not_unicode(data)
    if bad_text is not None:
        return WireError(
            request_id, INVALID_PARAMS, f"invalid params: {bad_text}", answer=not is_notification
        )
    if data.get("method") == "tools/call":
        return _check_arguments(request_id, data.get("params") or {}, tools)
    return None


def _check_arguments(
    request_id: str | int | None, params: Mapping[str, Any], tools: Mapping[str, frozenset[str]]
) -> WireError | None:
    known = tools.get(str(params.get("name")))
    arguments = params.get("arguments") or {}
    if known is None or not isinstance(arguments, Mapping):
        return None  # an unknown tool or bad arguments: the SDK answers those itself
    unknown = sorted(set(arguments) - known)
    if not unknown:
        return None
    return WireError(
        request_id,
        INVALID_PARAMS,
        f"invalid params: {params.get('name')} takes no argument {unknown[0]!r}; "
        f"it takes {', '.join(sorted(known)) or 'none'}",
    )


class CheckedStdin:
    """The lines of a binary stream that pass :func:`check_line`; the others are answered.

    Give it to the SDK's ``stdio_server(stdin=…)``, then set :attr:`replies` to
    the transport's write stream, so answers go out through the same writer as
    every other message (one writer: frames are never torn).
    """

    def __init__(self, stream: BinaryIO, tools: Mapping[str, frozenset[str]]) -> None:
        self.stream = stream
        self.tools = tools
        self.replies: MemoryObjectSendStream[SessionMessage] | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[str]:
        while True:
            raw, too_long = await anyio.to_thread.run_sync(self._read_line, abandon_on_cancel=True)
            if too_long:
                await self._answer(
                    WireError(
                        None,
                        INVALID_REQUEST,
                        f"invalid request: a message is at most {MAX_LINE_BYTES} bytes",
                    )
                )
                continue
            if not raw:
                return
            if not raw.strip():
                continue
            problem = check_line(raw, self.tools)
            if problem is None:
                yield raw.decode("utf-8")
            elif problem.answer:
                await self._answer(problem)
            else:
                print(f"llmos mcp: dropped a notification: {problem.message}", file=sys.stderr)

    def _read_line(self) -> tuple[bytes, bool]:
        """One line (``b""`` at the end), or ``(b"", True)`` for a line too long to keep."""
        line = self.stream.readline(MAX_LINE_BYTES + 1)
        if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
            return line, False
        while line and not line.endswith(b"\n"):  # skip the rest of it unread
            line = self.stream.readline(_READ_CHUNK)
        return b"", True

    async def _answer(self, problem: WireError) -> None:
        if self.replies is None:
            raise RuntimeError("CheckedStdin.replies must be set before lines are read")
        error = JSONRPCError(
            jsonrpc="2.0",
            id=problem.request_id,
            error=ErrorData(code=problem.code, message=problem.message),
        )
        await self.replies.send(SessionMessage(error))
