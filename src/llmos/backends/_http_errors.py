"""Turning what an LLM server answered into llmos errors with messages a user can act on.

Both official SDKs raise parallel exception classes (``APIStatusError``,
``APITimeoutError``, ``APIConnectionError``) around the same HTTP facts, and
both let transport errors from ``httpx2`` escape from a stream that breaks
after its headers. :func:`translate_sdk_error` is the one boundary where all
of those become llmos errors, so both backends say the same thing about the
same failure.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import httpx2

from llmos.backends._retry import TransientFailure
from llmos.backends.base import CONNECT_TIMEOUT_S
from llmos.errors import AuthError, BackendError, BackendTimeout, ContextOverflow, RateLimited

#: A server that refused a connection is tried this many times more:
#: enough for a blip, few enough that a server that is down fails within seconds.
UNREACHABLE_RETRIES = 2

#: Phrases servers use for a prompt that does not fit (Anthropic, OpenAI, vLLM, llama.cpp, Ollama).
_OVERFLOW_MARKERS = (
    "prompt is too long",
    "context_length_exceeded",
    "maximum context length",
    "context length",
    "context window",
    "too many tokens",
    "exceeds the available context size",
    "input length",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """Where a backend sends its calls, for error messages."""

    backend: str
    model: str
    base_url: str
    key_env: str
    list_models_hint: str


def error_detail(body: object, fallback: str) -> str:
    """The human part of an error body in either API's shape (``{"error": {"message"}}``)."""
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
    if isinstance(body, str) and body:
        return body
    return fallback


def error_code(body: object) -> str:
    """The machine code of an error body (OpenAI ``code``, Anthropic ``type``), or ''."""
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping):
            for key in ("code", "type"):
                if isinstance(error.get(key), str):
                    return str(error[key])
    return ""


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if (millis := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


#: Error codes sent inside a stream (no HTTP status of their own) and the status they mean.
_STREAM_ERROR_STATUS = {
    "overloaded_error": 529,
    "api_error": 500,
    "server_error": 500,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "request_too_large": 413,
    "invalid_request_error": 400,
    "context_length_exceeded": 400,
}


def _stream_error_status(body: object) -> int:
    if isinstance(body, Mapping):
        error = body.get("error", body)
        code = error.get("code") if isinstance(error, Mapping) else None
        if isinstance(code, int) and code >= 400:
            return code
    return _STREAM_ERROR_STATUS.get(error_code(body), 500)


def is_transient_status(status: int) -> bool:
    """Statuses a retry may fix: timeouts, conflicts, rate limits and server errors."""
    return status in (408, 409, 429) or status >= 500


def _is_overflow(status: int, detail: str, code: str) -> bool:
    text = f"{code} {detail}".lower()
    return status in (400, 413, 422) and any(marker in text for marker in _OVERFLOW_MARKERS)


def status_error(
    endpoint: Endpoint,
    status: int,
    body: object,
    *,
    retry_after: float | None = None,
    fallback: str = "",
) -> BackendError:
    """The llmos error for an HTTP error answer from the server."""
    detail = error_detail(body, fallback or f"HTTP {status}")
    code = error_code(body)
    where = f"{endpoint.backend} server at {endpoint.base_url}"
    name = endpoint.backend
    if status == 401:
        return AuthError(
            f"the {where} refused the API key (401: {detail}); set {endpoint.key_env} to a "
            "valid key",
            backend=name,
            status=status,
        )
    if status == 403:
        return AuthError(
            f"the {where} does not allow this key to use model {endpoint.model!r} "
            f"(403: {detail}); check the key's permissions or pick another model with --model",
            backend=name,
            status=status,
        )
    if status == 429:
        wait = f"; the server asks to wait {retry_after:g} s" if retry_after is not None else ""
        return RateLimited(
            f"the {where} is rate-limiting requests (429: {detail}){wait}; wait and run again, "
            "or run fewer tasks at once",
            backend=name,
            retry_after=retry_after,
        )
    if status == 404 and ("model" in detail.lower() or "model" in code):
        return BackendError(
            f"the model {endpoint.model!r} is unknown to the {where} (404: {detail}); "
            f"{endpoint.list_models_hint}, then pass one with --model",
            backend=name,
            status=status,
        )
    if status == 404:
        return BackendError(
            f"the {where} has no such endpoint (404: {detail}); check the base URL "
            f"{endpoint.base_url!r}",
            backend=name,
            status=status,
        )
    if _is_overflow(status, detail, code):
        return ContextOverflow(
            f"the conversation is too long for model {endpoint.model!r} ({status}: {detail}); "
            "start a new task, shorten the prompt or tool output, or pick a model with a larger "
            "context window",
            backend=name,
            status=status,
        )
    if status >= 500:
        return BackendError(
            f"the {where} failed with {status}: {detail}; the problem is on the server's "
            "side, so try again later",
            backend=name,
            status=status,
        )
    return BackendError(
        f"the {where} rejected the request for model {endpoint.model!r} ({status}: {detail})",
        backend=name,
        status=status,
    )


def timeout_error(endpoint: Endpoint, timeout: float, *, streaming: bool) -> BackendTimeout:
    what = "stopped streaming" if streaming else "did not answer"
    return BackendTimeout(
        f"the {endpoint.backend} server at {endpoint.base_url} {what} for {timeout:g} s "
        f"(model {endpoint.model!r}); check that the server is up and not overloaded, or "
        "raise the timeout (timeout = N in llmos.toml)",
        backend=endpoint.backend,
    )


def connection_error(endpoint: Endpoint, cause: BaseException | str) -> BackendError:
    """The server could not be reached: what to check depends on where it is."""
    if is_local_url(endpoint.base_url):
        check = "check that the server is running on this machine and listens on that port"
        if endpoint.backend == "ollama" or urlsplit(endpoint.base_url).port == 11434:
            check += " (Ollama: start it with `ollama serve`)"
    else:
        check = (
            "check the network connection, the base URL, and any proxy (HTTPS_PROXY); "
            "offline, use --provider local"
        )
    return BackendError(
        f"cannot reach the {endpoint.backend} server at {endpoint.base_url} ({cause}); {check}",
        backend=endpoint.backend,
    )


def cut_stream_error(endpoint: Endpoint, cause: BaseException | str) -> BackendError:
    return BackendError(
        f"the {endpoint.backend} server at {endpoint.base_url} ended the response for model "
        f"{endpoint.model!r} before it was complete ({cause}); the turn was discarded, run the "
        "task again",
        backend=endpoint.backend,
    )


def mapping_of(value: Any) -> Mapping[str, str]:
    """Headers as a plain mapping (SDK responses give an httpx Headers object)."""
    return {str(k).lower(): str(v) for k, v in dict(value or {}).items()}


def is_local_url(url: str) -> bool:
    """True for servers on this machine, which need no real API key."""
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "127.0.0.1", "::1", "0.0.0.0") or host.endswith(".localhost")


def translate_sdk_error(
    exc: Exception,
    sdk: ModuleType,
    endpoint: Endpoint,
    *,
    timeout: float,
    connect_timeout: float = CONNECT_TIMEOUT_S,
    in_stream: bool,
) -> BackendError | TransientFailure:
    """The llmos error for an exception from the ``anthropic`` or ``openai`` SDK (``sdk``).

    ``in_stream`` says the response had started streaming, so a lost connection
    is a cut stream rather than an unreachable server. Failures a retry may fix
    come back wrapped in :class:`TransientFailure`; an unreachable server only
    :data:`UNREACHABLE_RETRIES` times.
    """
    cause = exc.__cause__ or exc
    if isinstance(cause, httpx2.ConnectTimeout):  # waited once already: not worth again
        return connection_error(endpoint, f"no connection within {connect_timeout:g} s")
    if isinstance(exc, sdk.APITimeoutError | httpx2.TimeoutException):
        return timeout_error(endpoint, timeout, streaming=in_stream)
    if isinstance(exc, sdk.APIConnectionError | httpx2.TransportError):
        if in_stream:
            return TransientFailure(cut_stream_error(endpoint, cause))
        return TransientFailure(connection_error(endpoint, cause), max_retries=UNREACHABLE_RETRIES)
    if isinstance(exc, json.JSONDecodeError):
        return TransientFailure(cut_stream_error(endpoint, f"a streamed chunk is not JSON: {exc}"))
    if isinstance(exc, sdk.APIError):
        status = getattr(exc, "status_code", 0)
        if status < 400:  # an error sent inside a 200 stream
            status = _stream_error_status(exc.body)
        response = getattr(exc, "response", None)
        headers = mapping_of(response.headers) if response is not None else {}
        retry_after = parse_retry_after(headers)
        error = status_error(endpoint, status, exc.body, retry_after=retry_after, fallback=str(exc))
        # x-should-retry is how a server (and the fake one) says a retry cannot help.
        if is_transient_status(status) and headers.get("x-should-retry") != "false":
            return TransientFailure(error, retry_after=retry_after)
        return error
    return BackendError(
        f"the {endpoint.backend} SDK failed talking to {endpoint.base_url}: {exc}",
        backend=endpoint.backend,
    )
