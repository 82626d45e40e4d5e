"""The script of the fake LLM server: turns and faults, and how each looks on the wire.

A :class:`Turn` or :class:`Fault` is written once and rendered in the format
of whichever endpoint the client called: the Anthropic Messages API
(``/v1/messages``) or the OpenAI Chat Completions API (``/v1/chat/completions``),
streamed or not. :mod:`llmos.testing.fake_llm_server` serves them.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Api = Literal["anthropic", "openai"]

#: How long a stall holds a connection when nobody releases it, in seconds.
DEFAULT_STALL_SECONDS = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolUse:
    """One scripted tool call; ``raw_arguments`` overrides ``input`` on the wire verbatim."""

    name: str
    input: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None
    raw_arguments: str | None = None

    def arguments_json(self) -> str:
        if self.raw_arguments is not None:
            return self.raw_arguments
        return json.dumps(dict(self.input))


@dataclass(frozen=True, slots=True, kw_only=True)
class FakeUsage:
    """Token counts in Anthropic's sense: ``input_tokens`` excludes cache reads and writes.

    On the OpenAI wire, ``prompt_tokens`` is the sum of all three,
    ``prompt_tokens_details.cached_tokens`` is ``cache_read`` and
    ``prompt_tokens_details.cache_write_tokens`` is ``cache_write``.
    """

    input_tokens: int = 10
    output_tokens: int = 5
    cache_read: int = 0
    cache_write: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Turn:
    """One assistant turn, rendered in whichever format the called endpoint speaks.

    ``stop_reason`` uses Anthropic's vocabulary (``end_turn``, ``tool_use``,
    ``max_tokens``) and is translated for OpenAI; by default it is ``tool_use``
    when there are tool calls. ``chunk_size`` is how many characters of text or
    tool arguments go in each streamed delta.
    """

    text: str = ""
    tool_calls: Sequence[ToolUse] = ()
    usage: FakeUsage = field(default_factory=FakeUsage)
    stop_reason: str | None = None
    chunk_size: int = 8
    model: str | None = None
    #: False plays a server that ignores ``stream_options.include_usage`` (OpenAI wire only).
    report_usage: bool = True

    @property
    def effective_stop_reason(self) -> str:
        if self.stop_reason is not None:
            return self.stop_reason
        return "tool_use" if self.tool_calls else "end_turn"


FaultKind = Literal["status", "cut", "stall", "stream_error"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    """A scripted failure: an HTTP error, a stream cut in the middle, or a stall.

    Build one with the class methods. An error's ``body`` defaults to the real
    error shape of the called API, built from ``error_type`` and ``message``.
    """

    kind: FaultKind
    status: int = 500
    error_type: str = "api_error"
    message: str = "internal server error"
    openai_code: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    turn: Turn | None = None
    after: int = 0
    stall_seconds: float = DEFAULT_STALL_SECONDS

    @classmethod
    def http(
        cls,
        status: int,
        *,
        error_type: str | None = None,
        message: str | None = None,
        openai_code: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> Fault:
        """Any HTTP error; ``body`` (a JSON value) replaces the API's own error shape."""
        return cls(
            kind="status",
            status=status,
            error_type=error_type or _ANTHROPIC_ERROR_TYPES.get(status, "api_error"),
            message=message or f"scripted HTTP {status}",
            openai_code=openai_code,
            headers=dict(headers or {}),
            body=body,
        )

    @classmethod
    def rate_limited(cls, retry_after: float | None = 0) -> Fault:
        headers = {} if retry_after is None else {"retry-after": _format_seconds(retry_after)}
        return cls.http(
            429,
            message="Number of request tokens has exceeded your per-minute rate limit",
            openai_code="rate_limit_exceeded",
            headers=headers,
        )

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls.http(status, message="Internal server error", openai_code="server_error")

    @classmethod
    def auth_failed(cls) -> Fault:
        return cls.http(401, message="invalid API key", openai_code="invalid_api_key")

    @classmethod
    def unknown_model(cls, model: str) -> Fault:
        return cls.http(
            404,
            message=f"model: {model}",
            openai_code="model_not_found",
        )

    @classmethod
    def context_overflow(cls, prompt_tokens: int = 250_000, limit: int = 200_000) -> Fault:
        return cls.http(
            400,
            message=f"prompt is too long: {prompt_tokens} tokens > {limit} maximum",
            openai_code="context_length_exceeded",
        )

    @classmethod
    def stream_error(cls, turn: Turn, *, after: int, status: int = 529) -> Fault:
        """Stream the first ``after`` events of ``turn``, then an error event, then end.

        Anthropic sends ``event: error`` (``overloaded_error`` for 529); OpenAI-style
        servers send a ``data: {"error": ...}`` chunk. A request that does not
        stream gets the plain HTTP error instead.
        """
        base = cls.http(status, message="Overloaded" if status == 529 else None)
        return cls(
            kind="stream_error",
            status=status,
            error_type=base.error_type,
            message=base.message,
            openai_code=base.openai_code,
            turn=turn,
            after=after,
        )

    @classmethod
    def cut(cls, turn: Turn, *, after: int) -> Fault:
        """Stream the first ``after`` events (SSE events or chunks) of ``turn``, then hang up."""
        return cls(kind="cut", turn=turn, after=after)

    @classmethod
    def stall(
        cls, turn: Turn | None = None, *, after: int = 0, seconds: float = DEFAULT_STALL_SECONDS
    ) -> Fault:
        """Hold the connection silent until released, closed or ``seconds`` pass.

        Without ``turn`` nothing at all is sent (not even headers); with one, the
        headers and its first ``after`` events go out before the silence, and the
        rest of the turn follows if the stall is released.
        """
        return cls(kind="stall", turn=turn, after=after, stall_seconds=seconds)


ScriptItem = Turn | Fault


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedRequest:
    """One request the server received; header names are lower-case."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any
    api: Api | None


# --------------------------------------------------------------------------- wire formats

_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}

_OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    404: "invalid_request_error",
    429: "requests",
}

_OPENAI_FINISH_REASONS = {
    "end_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "stop_sequence": "stop",
}


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), max(1, size))]


def error_body(api: Api, fault: Fault, model: str) -> Any:
    """The JSON body of an HTTP error fault, in the called API's real shape."""
    if fault.body is not None:
        return fault.body
    if api == "anthropic":
        return {"type": "error", "error": {"type": fault.error_type, "message": fault.message}}
    message = fault.message
    if fault.status == 404 and fault.openai_code == "model_not_found":
        message = f"The model `{model}` does not exist or you do not have access to it."
    return {
        "error": {
            "message": message,
            "type": _OPENAI_ERROR_TYPES.get(fault.status, "server_error"),
            "param": None,
            "code": fault.openai_code,
        }
    }


class Ids:
    """Deterministic, unique ids for messages, tool calls and requests."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def next(self, prefix: str) -> str:
        return f"{prefix}_fake_{next(self._counter):04d}"


def _anthropic_usage(usage: FakeUsage, *, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": output_tokens,
        "cache_read_input_tokens": usage.cache_read,
        "cache_creation_input_tokens": usage.cache_write,
    }


def _tool_ids(turn: Turn, ids: Ids, prefix: str) -> list[str]:
    return [call.id or ids.next(prefix) for call in turn.tool_calls]


def stream_error_event(api: Api, fault: Fault, model: str) -> bytes:
    """The error a server sends inside a stream that already answered 200."""
    body = error_body(api, fault, model)
    if api == "anthropic":
        return f"event: error\ndata: {json.dumps(body)}\n\n".encode()
    body["error"]["code"] = fault.status
    return f"data: {json.dumps(body)}\n\n".encode()


def anthropic_message(turn: Turn, model: str, ids: Ids) -> dict[str, Any]:
    """A non-streaming Messages API response."""
    content: list[dict[str, Any]] = []
    if turn.text:
        content.append({"type": "text", "text": turn.text})
    for call, call_id in zip(turn.tool_calls, _tool_ids(turn, ids, "toolu"), strict=True):
        try:
            tool_input = json.loads(call.arguments_json())
        except json.JSONDecodeError:
            tool_input = {}
        content.append({"type": "tool_use", "id": call_id, "name": call.name, "input": tool_input})
    return {
        "id": ids.next("msg"),
        "type": "message",
        "role": "assistant",
        "model": turn.model or model,
        "content": content,
        "stop_reason": turn.effective_stop_reason,
        "stop_sequence": None,
        "usage": _anthropic_usage(turn.usage, output_tokens=turn.usage.output_tokens),
    }


def anthropic_events(turn: Turn, model: str, ids: Ids) -> list[bytes]:
    """The SSE events of a streamed Messages API response, one encoded event each."""
    events: list[tuple[str, dict[str, Any]]] = []
    start = anthropic_message(turn, model, ids) | {"content": [], "stop_reason": None}
    start["usage"] = _anthropic_usage(turn.usage, output_tokens=1)
    events.append(("message_start", {"type": "message_start", "message": start}))
    index = 0
    if turn.text:
        events.append(_block_start(index, {"type": "text", "text": ""}))
        events.append(("ping", {"type": "ping"}))
        for piece in _chunks(turn.text, turn.chunk_size):
            events.append(_block_delta(index, {"type": "text_delta", "text": piece}))
        events.append(_block_stop(index))
        index += 1
    for call, call_id in zip(turn.tool_calls, _tool_ids(turn, ids, "toolu"), strict=True):
        block = {"type": "tool_use", "id": call_id, "name": call.name, "input": {}}
        events.append(_block_start(index, block))
        for piece in _chunks(call.arguments_json(), turn.chunk_size):
            events.append(_block_delta(index, {"type": "input_json_delta", "partial_json": piece}))
        events.append(_block_stop(index))
        index += 1
    delta = {"stop_reason": turn.effective_stop_reason, "stop_sequence": None}
    usage = {"output_tokens": turn.usage.output_tokens}
    events.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
    events.append(("message_stop", {"type": "message_stop"}))
    return [f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events]


def _block_start(index: int, block: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "content_block_start", {
        "type": "content_block_start",
        "index": index,
        "content_block": block,
    }


def _block_delta(index: int, delta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}


def _block_stop(index: int) -> tuple[str, dict[str, Any]]:
    return "content_block_stop", {"type": "content_block_stop", "index": index}


def _openai_usage(usage: FakeUsage) -> dict[str, Any]:
    prompt = usage.input_tokens + usage.cache_read + usage.cache_write
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {
            "cached_tokens": usage.cache_read,
            "cache_write_tokens": usage.cache_write,
        },
    }


def _openai_finish_reason(turn: Turn) -> str:
    reason = turn.effective_stop_reason
    return _OPENAI_FINISH_REASONS.get(reason, reason)


def openai_completion(turn: Turn, model: str, ids: Ids) -> dict[str, Any]:
    """A non-streaming Chat Completions response."""
    message: dict[str, Any] = {"role": "assistant", "content": turn.text or None}
    if turn.tool_calls:
        message["tool_calls"] = [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json()},
            }
            for call, call_id in zip(turn.tool_calls, _tool_ids(turn, ids, "call"), strict=True)
        ]
    return {
        "id": ids.next("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": turn.model or model,
        "choices": [{"index": 0, "message": message, "finish_reason": _openai_finish_reason(turn)}],
        "usage": _openai_usage(turn.usage),
    }


def openai_chunks(turn: Turn, model: str, ids: Ids, *, include_usage: bool) -> list[bytes]:
    """The ``data:`` lines of a streamed Chat Completions response, ending with ``[DONE]``."""
    head = {
        "id": ids.next("chatcmpl"),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": turn.model or model,
    }
    if include_usage:
        head["usage"] = None

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return head | {"choices": [choice]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": piece}) for piece in _chunks(turn.text, turn.chunk_size)]
    calls = zip(turn.tool_calls, _tool_ids(turn, ids, "call"), strict=True)
    for index, (call, call_id) in enumerate(calls):
        opening = {"index": index, "id": call_id, "type": "function"}
        opening["function"] = {"name": call.name, "arguments": ""}
        chunks.append(chunk({"tool_calls": [opening]}))
        for piece in _chunks(call.arguments_json(), turn.chunk_size):
            part = {"index": index, "function": {"arguments": piece}}
            chunks.append(chunk({"tool_calls": [part]}))
    chunks.append(chunk({}, _openai_finish_reason(turn)))
    if include_usage and turn.report_usage:
        chunks.append(head | {"choices": [], "usage": _openai_usage(turn.usage)})
    encoded = [f"data: {json.dumps(item)}\n\n".encode() for item in chunks]
    return [*encoded, b"data: [DONE]\n\n"]


def turn_from_json(data: Mapping[str, Any]) -> Turn:
    calls = tuple(
        ToolUse(
            name=call["name"],
            input=call.get("input", {}),
            id=call.get("id"),
            raw_arguments=call.get("raw_arguments"),
        )
        for call in data.get("tool_calls", ())
    )
    usage = data.get("usage") or {}
    return Turn(
        text=data.get("text", ""),
        tool_calls=calls,
        usage=FakeUsage(**{k: int(v) for k, v in usage.items()}),
        stop_reason=data.get("stop_reason"),
        chunk_size=int(data.get("chunk_size", 8)),
        model=data.get("model"),
        report_usage=bool(data.get("report_usage", True)),
    )


def item_from_json(data: Mapping[str, Any]) -> ScriptItem:
    """One script entry: a turn, or ``{"fault": "status" | "cut" | "stream_error" | "stall"}``.

    Fault fields: ``status``, ``message``, ``error_type``, ``headers``, ``body``
    (status); ``turn`` and ``after`` (cut, stream_error, stall); ``status``
    (stream_error); ``seconds`` (stall).
    """
    kind = data.get("fault")
    if kind is None:
        return turn_from_json(data)
    turn = turn_from_json(data["turn"]) if "turn" in data else None
    if kind == "status":
        return Fault.http(
            int(data["status"]),
            error_type=data.get("error_type"),
            message=data.get("message"),
            openai_code=data.get("openai_code"),
            headers=data.get("headers"),
            body=data.get("body"),
        )
    if kind == "cut" and turn is not None:
        return Fault.cut(turn, after=int(data.get("after", 0)))
    if kind == "stream_error" and turn is not None:
        return Fault.stream_error(
            turn, after=int(data.get("after", 0)), status=int(data.get("status", 529))
        )
    if kind == "stall":
        seconds = float(data.get("seconds", DEFAULT_STALL_SECONDS))
        return Fault.stall(turn, after=int(data.get("after", 0)), seconds=seconds)
    raise ValueError(
        f"unknown script entry {dict(data)!r}: 'fault' must be status, cut, "
        "stream_error or stall (cut and stream_error need a 'turn')"
    )


#: The fake's tokenizer: a token per ``BYTES_PER_TOKEN`` UTF-8 bytes of prompt text.
BYTES_PER_TOKEN = 4


def count_prompt_tokens(body: Any) -> int:
    """The fake ``count_tokens`` answer: deterministic, and below the byte bound.

    Counts the text a model would read (system, text and tool-result blocks,
    tool-use inputs, tool schemas) at one token per ``BYTES_PER_TOKEN`` bytes,
    rounded up and at least 1 (as a real count, which includes the message
    framing), so a test can work out the exact figure from the request.
    """
    if not isinstance(body, Mapping):
        return 1
    parts: list[str] = []
    system = body.get("system") or ""
    if isinstance(system, str):
        parts.append(system)
    else:
        parts.extend(str(block.get("text", "")) for block in system)
    for message in body.get("messages") or ():
        content = message.get("content", "")
        for block in [{"type": "text", "text": content}] if isinstance(content, str) else content:
            if block.get("type") == "tool_use":
                parts.append(json.dumps(block.get("input", {})))
            else:
                parts.append(str(block.get("text", block.get("content", ""))))
    for tool in body.get("tools") or ():
        parts.append(json.dumps(tool.get("input_schema", {})) + str(tool.get("description", "")))
    size = len("".join(parts).encode("utf-8", "surrogatepass"))
    return max(1, -(-size // BYTES_PER_TOKEN))


def load_script(text: str) -> list[ScriptItem]:
    """Parse a JSON script: a list of entries, or ``{"items": [...], "fallback": {...}}``."""
    data = json.loads(text)
    entries = data["items"] if isinstance(data, dict) else data
    return [item_from_json(entry) for entry in entries]


def iter_sse_data(raw: bytes) -> Iterator[str]:
    """The ``data:`` payloads of an SSE body, for tests that read a stream by hand."""
    for line in raw.decode().splitlines():
        if line.startswith("data: "):
            yield line[len("data: ") :]
