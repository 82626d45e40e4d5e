"""The OpenAI Chat Completions backend, for OpenAI and every server that copies its API.

One backend plus a base URL covers Ollama, vLLM, llama.cpp's server and LM
Studio: the endpoint is configuration, not code. Streams one turn with
``stream_options.include_usage`` so real token counts arrive (cached prompt
tokens apart), assembles tool-call deltas by index, and gives malformed
tool-call JSON one repair attempt (see :mod:`llmos.backends._tool_calls`).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx2
import openai

from llmos.backends._http_errors import (
    Endpoint,
    cut_stream_error,
    is_local_url,
    translate_sdk_error,
)
from llmos.backends._retry import RetryPolicy, TransientFailure, retry_stream
from llmos.backends._tool_calls import INVALID_JSON_KEY, ToolCallAssembler
from llmos.backends.base import (
    CONNECT_TIMEOUT_S,
    Backend,
    BackendEvent,
    BackendRequest,
    TextDelta,
    ToolCallReady,
    TurnFinished,
    estimate_tokens,
)
from llmos.errors import BackendUnavailable
from llmos.messages import (
    AssistantMessage,
    Message,
    ToolCall,
    ToolResultMessage,
    Usage,
    UserMessage,
)
from llmos.tools.base import ToolSpec

DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: Sent as the key to servers that are not OpenAI's and were given none (Ollama, vLLM …).
PLACEHOLDER_KEY = "llmos-no-key"

#: Chat Completions ``finish_reason`` in llmos's (Anthropic's) stop-reason words.
_STOP_REASONS = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "refusal",
}

#: Context windows by model-name prefix, longest prefix first. A local server's
#: real window is its own setting (llama.cpp ``-c``, Ollama ``num_ctx``).
_CONTEXT_WINDOWS = (
    ("gpt-4.1", 1_047_576),
    ("gpt-5", 400_000),
    ("gpt-4o", 128_000),
    ("gpt-4-turbo", 128_000),
    ("gpt-4", 8_192),
    ("gpt-3.5-turbo", 16_385),
    ("o1", 200_000),
    ("o3", 200_000),
    ("o4", 200_000),
    ("llama3", 128_000),
    ("llama-3", 128_000),
    ("qwen", 32_768),
    ("mistral", 32_768),
)
#: Unknown models (most local ones): a window most of them have.
DEFAULT_CONTEXT_WINDOW = 32_768


def context_window_for(model: str) -> int:
    name = model.lower().rsplit("/", 1)[-1]
    for prefix, window in _CONTEXT_WINDOWS:
        if name.startswith(prefix):
            return window
    return DEFAULT_CONTEXT_WINDOW


def normalise_base_url(url: str) -> str:
    """Add the ``/v1`` every compatible server lives under when the URL has no path.

    So ``http://localhost:11434`` (Ollama) works as well as ``…:11434/v1``.
    """
    url = url.rstrip("/")
    return f"{url}/v1" if urlsplit(url).path in ("", "/") else url


# --------------------------------------------------------------------------- request mapping


def _arguments_text(call: ToolCall) -> str:
    """Arguments as sent back to the model: what it wrote, even when that was not JSON."""
    if set(call.input) == {INVALID_JSON_KEY}:
        return str(call.input[INVALID_JSON_KEY])
    return json.dumps(dict(call.input))


def _openai_message(message: Message) -> dict[str, Any]:
    match message:
        case UserMessage(content=content):
            return {"role": "user", "content": content}
        case AssistantMessage(text=text, tool_calls=calls):
            result: dict[str, Any] = {"role": "assistant", "content": text or None}
            if calls:
                result["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": _arguments_text(call)},
                    }
                    for call in calls
                ]
            return result
        case ToolResultMessage(call_id=call_id, content=content, is_error=is_error):
            # Chat Completions has no error flag for tool results: say it in the text.
            text = f"Error: {content}" if is_error else content
            return {"role": "tool", "tool_call_id": call_id, "content": text}
    raise TypeError(f"not an llmos message: {message!r}")


def _tool_schemas(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": dict(tool.input_schema),
            },
        }
        for tool in tools
    ]


def openai_params(request: BackendRequest, model: str, *, base_url: str) -> dict[str, Any]:
    """The keyword arguments of ``chat.completions.create`` for one llmos request."""
    messages = [{"role": "system", "content": request.system}] if request.system else []
    messages += [_openai_message(message) for message in request.messages]
    params: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    # OpenAI's reasoning models refuse max_tokens; the compatible servers only know it.
    if urlsplit(base_url).hostname == "api.openai.com":
        params["max_completion_tokens"] = request.max_tokens
    else:
        params["max_tokens"] = request.max_tokens
    if request.tools:
        params["tools"] = _tool_schemas(request.tools)
    return params


# --------------------------------------------------------------------------- the backend


class _TurnState:
    """What one streamed completion has said so far."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.calls = ToolCallAssembler()
        self.text: list[str] = []
        self.finish_reason: str | None = None
        self.usage: Any = None

    def feed(self, chunk: Any) -> str | None:
        """Take one chunk; return text to show, if any."""
        self.model = chunk.model or self.model
        if chunk.usage is not None:
            self.usage = chunk.usage
        if not chunk.choices:
            return None
        choice = chunk.choices[0]
        delta = choice.delta
        for position, part in enumerate((delta.tool_calls if delta else None) or ()):
            function = part.function
            self.calls.add(
                part.index if part.index is not None else position,
                call_id=part.id,
                name=function.name if function else None,
                arguments=function.arguments if function else None,
            )
        if choice.finish_reason:
            self.finish_reason = choice.finish_reason
        if delta and delta.content:
            self.text.append(delta.content)
            return str(delta.content)
        return None

    def final_usage(self, request_json: str) -> Usage:
        """Usage as reported; estimated from the text when a server reports none."""
        if self.usage is None:
            return Usage(
                input_tokens=estimate_tokens(request_json),
                output_tokens=estimate_tokens("".join(self.text)),
            )
        details = self.usage.prompt_tokens_details
        cache_read = (details.cached_tokens if details else None) or 0
        cache_write = (getattr(details, "cache_write_tokens", None) if details else None) or 0
        return Usage(
            input_tokens=max(0, self.usage.prompt_tokens - cache_read - cache_write),
            output_tokens=self.usage.completion_tokens,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
        )

    def stop_reason(self, has_calls: bool) -> str:
        reason = _STOP_REASONS.get(self.finish_reason or "stop", self.finish_reason or "end_turn")
        # Some servers say "stop" even when the turn ends in tool calls.
        return "tool_use" if has_calls and reason == "end_turn" else reason


class OpenAIBackend(Backend):
    """Any Chat Completions server, streamed, with tool calls.

    The server comes from ``base_url`` or ``OPENAI_BASE_URL`` (default
    OpenAI's own; a URL without a path gets ``/v1``), the key from ``api_key`` or
    ``OPENAI_API_KEY``. Servers other than OpenAI's get a placeholder key when
    none is set, since Ollama, vLLM and llama.cpp do not check it. Rate limits
    and server errors are retried ``max_retries`` times, honouring ``retry-after``;
    a server that cannot be reached fails within seconds: ``connect_timeout`` bounds
    opening a connection, and a refused one is retried only twice.

    Example:
        backend = OpenAIBackend("qwen2.5:7b", base_url="http://localhost:11434")
        async for event in backend.stream(BackendRequest(system="…", messages=[...])):
            ...
    """

    name: ClassVar[str] = "openai"

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 600,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        max_retries: int = 4,
    ) -> None:
        super().__init__(model)
        self.base_url = normalise_base_url(
            base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        )
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.context_window = context_window_for(model)
        self._retry = RetryPolicy(max_retries=max_retries)
        self._endpoint = Endpoint(
            backend=self.name,
            model=model,
            base_url=self.base_url,
            key_env="OPENAI_API_KEY",
            list_models_hint=self._list_models_hint(),
        )
        self._client = openai.AsyncOpenAI(
            api_key=self._api_key(api_key),
            base_url=self.base_url,
            # A server that cannot be reached fails in seconds, not after the whole timeout.
            timeout=httpx2.Timeout(timeout, connect=min(connect_timeout, timeout)),
            max_retries=0,  # retried in retry_stream, which honours retry-after: 0
        )

    def _list_models_hint(self) -> str:
        hint = f"list the models it serves with `curl {self.base_url}/models`"
        if urlsplit(self.base_url).port == 11434:
            hint += " (Ollama: `ollama list`, and `ollama pull NAME` to add one)"
        return hint

    def _api_key(self, api_key: str | None) -> str:
        if key := api_key or os.environ.get("OPENAI_API_KEY"):
            return key
        if is_local_url(self.base_url) or urlsplit(self.base_url).hostname != "api.openai.com":
            return PLACEHOLDER_KEY
        raise BackendUnavailable(
            "the openai backend needs OPENAI_API_KEY for api.openai.com; set it, or point "
            "--base-url (OPENAI_BASE_URL) at a local server such as Ollama "
            "(http://localhost:11434)",
            backend=self.name,
        )

    def stream(self, request: BackendRequest) -> AsyncIterator[BackendEvent]:
        return retry_stream(lambda: self._attempt(request), self._retry)

    async def aclose(self) -> None:
        await self._client.close()

    async def _attempt(self, request: BackendRequest) -> AsyncIterator[BackendEvent]:
        params = openai_params(request, self.model, base_url=self.base_url)
        turn = _TurnState(self.model)
        in_stream = False
        try:
            stream = await self._client.chat.completions.create(**params)
            in_stream = True
            async with stream:
                async for chunk in stream:
                    if text := turn.feed(chunk):
                        yield TextDelta(text=text)
        except (openai.OpenAIError, httpx2.HTTPError, json.JSONDecodeError) as exc:
            raise translate_sdk_error(
                exc,
                openai,
                self._endpoint,
                timeout=self.timeout,
                connect_timeout=self.connect_timeout,
                in_stream=in_stream,
            ) from exc
        if turn.finish_reason is None:
            raise TransientFailure(cut_stream_error(self._endpoint, "no finish_reason"))
        calls = turn.calls.finish()
        for call in calls:
            yield ToolCallReady(call=call)
        usage = turn.final_usage(json.dumps(params["messages"]))
        yield TurnFinished(usage=usage, model=turn.model, stop_reason=turn.stop_reason(bool(calls)))


class OllamaBackend(OpenAIBackend):
    """An Ollama server through its OpenAI-compatible endpoint (``--provider ollama``).

    The same wire as :class:`OpenAIBackend`; its own name, so errors and the
    ledger say ``ollama``, and no key: a developer's ``OPENAI_API_KEY`` is never
    sent to it.

    Example:
        backend = OllamaBackend("qwen2.5:7b", base_url="http://localhost:11434/v1")
    """

    name: ClassVar[str] = "ollama"

    def __init__(self, model: str, *, base_url: str, **options: Any) -> None:
        super().__init__(model, api_key=PLACEHOLDER_KEY, base_url=base_url, **options)
