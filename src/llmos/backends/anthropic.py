"""The Anthropic Messages API backend, on the official ``anthropic`` SDK.

Streams one turn with tool use. Prompt caching puts a ``cache_control``
breakpoint on the system prompt, on the last tool schema and on the newest
message, so an agent loop pays full price only for what is new each turn;
cache reads and writes are reported apart in :class:`~llmos.messages.Usage`.
The budget counts a prompt with ``POST /v1/messages/count_tokens``, once, with
a short time-out and no retry; if that fails, the byte bound stands in.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

import anthropic
import httpx2

from llmos.backends._http_errors import (
    Endpoint,
    cut_stream_error,
    is_local_url,
    translate_sdk_error,
)
from llmos.backends._retry import RetryPolicy, TransientFailure, retry_stream
from llmos.backends._tool_calls import ToolCallAssembler
from llmos.backends.base import (
    CONNECT_TIMEOUT_S,
    Backend,
    BackendEvent,
    BackendRequest,
    TextDelta,
    ToolCallReady,
    TurnFinished,
    request_token_bound,
)
from llmos.errors import BackendUnavailable
from llmos.messages import AssistantMessage, Message, ToolResultMessage, Usage, UserMessage
from llmos.tools.base import ToolSpec

DEFAULT_BASE_URL = "https://api.anthropic.com"
#: Sent as the key to servers on this machine, which do not check it.
LOCAL_PLACEHOLDER_KEY = "llmos-local-no-key"
_CACHE = {"type": "ephemeral"}
#: How long a token count may take before the byte bound is used instead.
COUNT_TIMEOUT_S = 10.0
log = logging.getLogger(__name__)


def context_window_for(model: str) -> int:
    """Every current Claude model takes 200k tokens of context (1M is an opt-in beta)."""
    return 200_000 if model.startswith("claude") else Backend.context_window


# --------------------------------------------------------------------------- request mapping


def _tool_schemas(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    schemas: list[dict[str, Any]] = [
        {"name": t.name, "description": t.description, "input_schema": dict(t.input_schema)}
        for t in tools
    ]
    if schemas:
        schemas[-1]["cache_control"] = _CACHE
    return schemas


def _blocks_of(message: Message) -> tuple[str, list[dict[str, Any]]]:
    """The role and content blocks of one llmos message."""
    match message:
        case UserMessage(content=content):
            return "user", [{"type": "text", "text": content}] if content else []
        case AssistantMessage(text=text, tool_calls=calls):
            blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
            blocks += [
                {"type": "tool_use", "id": c.id, "name": c.name, "input": dict(c.input)}
                for c in calls
            ]
            return "assistant", blocks
        case ToolResultMessage(call_id=call_id, content=content, is_error=is_error):
            result = {"type": "tool_result", "tool_use_id": call_id, "content": content}
            return "user", [result | {"is_error": is_error}]
    raise TypeError(f"not an llmos message: {message!r}")


def anthropic_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """llmos messages as Anthropic messages: same-role neighbours share one message.

    That groups the results of one turn's tool calls into a single user
    message, as the API requires, and puts a following user note in it too.
    The last block carries a cache breakpoint.
    """
    result: list[dict[str, Any]] = []
    for message in messages:
        role, blocks = _blocks_of(message)
        if not blocks:
            continue
        if result and result[-1]["role"] == role:
            result[-1]["content"].extend(blocks)
        else:
            result.append({"role": role, "content": blocks})
    if result:
        last = result[-1]["content"]
        last[-1] = last[-1] | {"cache_control": _CACHE}
    return result


def anthropic_params(request: BackendRequest, model: str) -> dict[str, Any]:
    """The keyword arguments of ``messages.create`` for one llmos request."""
    params: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_tokens,
        "messages": anthropic_messages(request.messages),
    }
    if request.system:
        params["system"] = [{"type": "text", "text": request.system, "cache_control": _CACHE}]
    if request.tools:
        params["tools"] = _tool_schemas(request.tools)
    return params


# --------------------------------------------------------------------------- the backend


class _TurnState:
    """What one streamed message has said so far."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.calls = ToolCallAssembler()
        self.usage: dict[str, int] = {}
        self.stop_reason = "end_turn"
        self.finished = False

    def take_usage(self, usage: Any) -> None:
        for field in (
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
        ):
            value = getattr(usage, field, None)
            if value is not None:
                self.usage[field] = value

    def feed(self, event: Any) -> str | None:
        """Take one raw stream event; return text to show, if any."""
        match event.type:
            case "message_start":
                self.model = event.message.model or self.model
                self.take_usage(event.message.usage)
            case "content_block_start" if event.content_block.type == "tool_use":
                block = event.content_block
                self.calls.add(
                    event.index,
                    call_id=block.id,
                    name=block.name,
                    initial_input=block.input or None,
                )
            case "content_block_delta" if event.delta.type == "text_delta":
                return str(event.delta.text)
            case "content_block_delta" if event.delta.type == "input_json_delta":
                self.calls.add(event.index, arguments=event.delta.partial_json)
            case "message_delta":
                self.stop_reason = event.delta.stop_reason or self.stop_reason
                self.take_usage(event.usage)
            case "message_stop":
                self.finished = True
        return None

    def final_usage(self) -> Usage:
        return Usage(
            input_tokens=self.usage.get("input_tokens", 0),
            output_tokens=self.usage.get("output_tokens", 0),
            cache_read_tokens=self.usage.get("cache_read_input_tokens", 0),
            cache_write_tokens=self.usage.get("cache_creation_input_tokens", 0),
        )


class AnthropicBackend(Backend):
    """Claude through the Messages API, streamed, with tool use and prompt caching.

    The key comes from ``api_key`` or ``ANTHROPIC_API_KEY`` (else
    ``ANTHROPIC_AUTH_TOKEN`` as a bearer token); the server from ``base_url`` or
    ``ANTHROPIC_BASE_URL``. A server on this machine needs no key. Rate limits
    and server errors are retried ``max_retries`` times, honouring ``retry-after``;
    a server that cannot be reached fails within seconds: ``connect_timeout`` bounds
    opening a connection, and a refused one is retried only twice.

    Example:
        backend = AnthropicBackend("claude-sonnet-4-5")
        async for event in backend.stream(BackendRequest(system="…", messages=[...])):
            ...
    """

    name: ClassVar[str] = "anthropic"

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 600,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        max_retries: int = 4,
        count_timeout: float = COUNT_TIMEOUT_S,
    ) -> None:
        super().__init__(model)
        self.base_url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.context_window = context_window_for(model)
        self._retry = RetryPolicy(max_retries=max_retries)
        self._endpoint = Endpoint(
            backend=self.name,
            model=model,
            base_url=self.base_url,
            key_env="ANTHROPIC_API_KEY",
            list_models_hint="see the model names at https://docs.anthropic.com/en/docs/about-claude/models",
        )
        key, token = self._credentials(api_key)
        self._client = anthropic.AsyncAnthropic(
            api_key=key,
            auth_token=token,
            base_url=self.base_url,
            # A server that cannot be reached fails in seconds, not after the whole timeout.
            timeout=httpx2.Timeout(timeout, connect=min(connect_timeout, timeout)),
            max_retries=0,  # retried in retry_stream, which honours retry-after: 0
        )
        self._counter = self._client.with_options(timeout=count_timeout, max_retries=0)

    def _credentials(self, api_key: str | None) -> tuple[str | None, str | None]:
        """``(api_key, auth_token)``: exactly one of them is set."""
        if key := api_key or os.environ.get("ANTHROPIC_API_KEY"):
            return key, None
        if token := os.environ.get("ANTHROPIC_AUTH_TOKEN"):
            return None, token
        if is_local_url(self.base_url):
            return LOCAL_PLACEHOLDER_KEY, None
        raise BackendUnavailable(
            f"the anthropic backend needs an API key for {self.base_url}: set ANTHROPIC_API_KEY "
            "(create one at https://console.anthropic.com/settings/keys)",
            backend=self.name,
        )

    def stream(self, request: BackendRequest) -> AsyncIterator[BackendEvent]:
        return retry_stream(lambda: self._attempt(request), self._retry)

    async def count_tokens(self, request: BackendRequest) -> int:
        """The prompt's tokens as the server counts them; the byte bound if it cannot."""
        params = anthropic_params(request, self.model)
        del params["max_tokens"]
        try:
            counted = await self._counter.messages.count_tokens(**params)
            return int(counted.input_tokens)
        except (anthropic.AnthropicError, httpx2.HTTPError, ValueError, TypeError) as exc:
            log.debug("count_tokens failed (%r); pricing the prompt by its bytes", exc)
            return request_token_bound(request)

    async def aclose(self) -> None:
        await self._client.close()

    async def _attempt(self, request: BackendRequest) -> AsyncIterator[BackendEvent]:
        turn = _TurnState(self.model)
        in_stream = False
        try:
            stream = await self._client.messages.create(
                **anthropic_params(request, self.model), stream=True
            )
            in_stream = True
            async with stream:
                async for event in stream:
                    if text := turn.feed(event):
                        yield TextDelta(text=text)
        except (anthropic.AnthropicError, httpx2.HTTPError, json.JSONDecodeError) as exc:
            raise translate_sdk_error(
                exc,
                anthropic,
                self._endpoint,
                timeout=self.timeout,
                connect_timeout=self.connect_timeout,
                in_stream=in_stream,
            ) from exc
        if not turn.finished:
            raise TransientFailure(cut_stream_error(self._endpoint, "no message_stop event"))
        for call in turn.calls.finish():
            yield ToolCallReady(call=call)
        yield TurnFinished(usage=turn.final_usage(), model=turn.model, stop_reason=turn.stop_reason)
